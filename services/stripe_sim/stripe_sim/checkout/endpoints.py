"""Checkout Sessions (mode=payment): create, retrieve, list, expire; and the customer's side, for tests.

A session is created `open` / `unpaid` with its amount from `line_items` (a `price` or inline
`price_data`, times `quantity`). Expiring it raises `checkout.session.expired`. Nobody can pay at
its `url`: `complete_session` stands in for the customer (the control API's
`POST /_sim/checkout/sessions/{id}/complete`) and returns the events Stripe would send:

    paid     open -> complete/paid                     checkout.session.completed
    pending  open -> complete/unpaid (async method)    checkout.session.completed
    failed   open -> complete/unpaid, then failed      checkout.session.completed + async_payment_failed
    paid     complete/unpaid -> complete/paid          checkout.session.async_payment_succeeded
    failed   complete/unpaid -> stays unpaid           checkout.session.async_payment_failed
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.routing import Route

from stripe_sim.catalog.endpoints import currency
from stripe_sim.errors import ParamError, StripeError
from stripe_sim.forms import Params
from stripe_sim.state import SimState
from stripe_sim.store import new_id, now
from stripe_sim.wire import Call, retriever, stripe_route

__all__ = ["Outcome", "checkout_routes", "complete_session"]

Obj = dict[str, Any]
Outcome = Literal["paid", "pending", "failed"]
_MIN_LIFETIME_S, _MAX_LIFETIME_S = 30 * 60, 24 * 3600
_MAX_LINE_ITEMS = 100


def create_session(call: Call) -> Obj:
    params = call.params.only(
        [
            "mode",
            "line_items",
            "success_url",
            "cancel_url",
            "customer",
            "customer_email",
            "client_reference_id",
            "metadata",
            "expires_at",
            "payment_method_types",
            "submit_type",
            "locale",
        ]
    )
    mode = params.choice("mode", ("payment", "setup", "subscription"), required=True)
    if mode != "payment":
        raise ParamError("The stand-in supports only mode=payment.", param="mode", code="parameter_invalid_string")
    items = params.hashes("line_items", required=True)
    if len(items) > _MAX_LINE_ITEMS:
        raise ParamError(f"line_items may hold at most {_MAX_LINE_ITEMS} items.", param="line_items")
    amounts = [_line_amount(call, item) for item in items]
    currencies = {item_currency for _, item_currency in amounts}
    if len(currencies) != 1:
        raise ParamError("All line_items must be in the same currency.", param="line_items")
    success_url, cancel_url = _url(params, "success_url"), _url(params, "cancel_url")
    customer_id, customer_email = params.text("customer"), params.text("customer_email", max_length=800)
    if customer_id is not None and customer_email is not None:
        raise ParamError("You may only specify one of these parameters: customer, customer_email.", param="customer")
    created = now()
    expires_at = params.integer("expires_at")
    if expires_at is None:
        expires_at = created + _MAX_LIFETIME_S
    elif not created + _MIN_LIFETIME_S <= expires_at <= created + _MAX_LIFETIME_S:
        raise ParamError(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    methods = params.strings("payment_method_types") or ["card"]
    submit_type = params.choice("submit_type", ("auto", "book", "donate", "pay", "subscribe"))
    locale = params.text("locale", max_length=10)
    client_reference_id = params.text("client_reference_id", max_length=200)
    metadata = params.metadata() or {}
    if customer_id is not None:
        call.sim.store.get("customer", customer_id, param="customer", status=400)
    total = sum(amount for amount, _ in amounts)
    session_id = new_id("cs_test", 58)
    session: Obj = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currencies.pop(),
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None},
        "customer": customer_id,
        "customer_creation": None if customer_id is not None else "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": locale,
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_types": methods,
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": submit_type,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
    }
    # Stripe raises no event when a session is created.
    return call.sim.store.add(session)


def _line_amount(call: Call, item: Params) -> tuple[int, str]:
    """(amount, currency) of one line item: its price's unit amount times the quantity."""
    item.only(["price", "price_data", "quantity"])
    quantity = item.integer("quantity", required=True, minimum=1)
    assert quantity is not None
    price_id, price_data = item.text("price"), item.hash("price_data")
    if (price_id is None) == (price_data is None):
        raise ParamError(
            "You must specify exactly one of price or price_data.", param=item.name("price"), code="parameter_missing"
        )
    if price_id is not None:
        price = call.sim.store.get("price", price_id, param=item.name("price"), status=400)
        if price["type"] != "one_time" or price["unit_amount"] is None:
            raise ParamError("mode=payment needs one-time prices with a unit_amount.", param=item.name("price"))
        return int(price["unit_amount"]) * quantity, str(price["currency"])
    assert price_data is not None
    price_data.only(["currency", "unit_amount", "product", "product_data", "tax_behavior"])
    item_currency = currency(price_data)
    unit_amount = price_data.integer("unit_amount", required=True, minimum=0)
    assert unit_amount is not None and item_currency is not None
    product_id, product_data = price_data.text("product"), price_data.hash("product_data")
    if product_id is not None:
        call.sim.store.get("product", product_id, param=price_data.name("product"), status=400)
    elif product_data is not None:
        product_data.only(["name", "description", "metadata"])
        product_data.required_text("name")
    else:
        raise ParamError(
            "Missing required param: product_data.", param=price_data.name("product_data"), code="parameter_missing"
        )
    return unit_amount * quantity, item_currency


def _url(params: Params, key: str) -> str | None:
    value = params.text(key, max_length=5000)
    if value is not None and not value.startswith(("https://", "http://")):
        raise ParamError("Not a valid URL", param=key, code="url_invalid")
    return value


def list_sessions(call: Call) -> Obj:
    params = call.params.only(["customer", "status", "payment_intent", "limit", "starting_after", "ending_before"])
    customer = params.text("customer")
    status = params.choice("status", ("open", "complete", "expired"))
    return call.sim.store.page(
        "checkout.session",
        params,
        "/v1/checkout/sessions",
        where=lambda s: (customer is None or s["customer"] == customer) and (status is None or s["status"] == status),
    )


def expire_session(call: Call) -> Obj:
    call.params.only([])
    session = call.sim.store.get("checkout.session", call.path["id"])
    if session["status"] != "open":
        raise StripeError(
            400,
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of '
            f'"{session["status"]}".',
            code="checkout_session_not_open",
        )
    session.update(status="expired", url=None)
    call.emit("checkout.session.expired", session)
    return session


def complete_session(sim: SimState, session: Obj, outcome: Outcome) -> list[Obj]:
    """The customer finishes (or the async payment resolves); returns the events raised, in order."""
    status, paid = session["status"], session["payment_status"]
    events: list[Obj] = []

    def raise_event(event_type: str) -> None:
        events.append(sim.webhooks.create_event(event_type, session))

    if status == "open":
        details = {"email": session["customer_email"] or "customer@example.com", "name": None, "tax_exempt": "none"}
        session.update(status="complete", url=None, customer_details=details)
        session["payment_status"] = "paid" if outcome == "paid" else "unpaid"
        raise_event("checkout.session.completed")
        if outcome == "failed":
            raise_event("checkout.session.async_payment_failed")
    elif status == "complete" and paid == "unpaid" and outcome != "pending" and not _failed(sim, session["id"]):
        if outcome == "paid":
            session["payment_status"] = "paid"
            raise_event("checkout.session.async_payment_succeeded")
        else:
            raise_event("checkout.session.async_payment_failed")
    else:
        raise StripeError(
            400,
            f"The Checkout Session is {status} with payment_status {paid}: it cannot become {outcome}.",
            code="checkout_session_not_open",
        )
    return events


def _failed(sim: SimState, session_id: str) -> bool:
    """Did the session's async payment already fail? (Then it stays unpaid for good.)"""
    return any(
        event["type"] == "checkout.session.async_payment_failed" and event["data"]["object"]["id"] == session_id
        for event in sim.store.all("event")
    )


def checkout_routes() -> list[Route]:
    return [
        stripe_route("/v1/checkout/sessions", {"POST": create_session, "GET": list_sessions}),
        stripe_route("/v1/checkout/sessions/{id}", {"GET": retriever("checkout.session")}),
        stripe_route("/v1/checkout/sessions/{id}/expire", {"POST": expire_session}),
    ]
