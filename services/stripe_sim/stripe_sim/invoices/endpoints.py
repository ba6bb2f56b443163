"""Invoice items and invoices: create, retrieve, list, finalize, pay, void.

Totals follow Stripe: subtotal and total are the sum of the lines (negative lines
are credits), `amount_due` never goes below zero. A zero-amount invoice is paid on
finalization. Paying with `payment_method=pm_card_chargeDeclined` (Stripe's test
card that is always declined) answers 402 `card_declined` and raises
`invoice.payment_failed`; any other payment succeeds and raises `invoice.paid`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.routing import Route

from stripe_sim.catalog.endpoints import currency
from stripe_sim.errors import ParamError, StripeError
from stripe_sim.store import list_object, new_id, now
from stripe_sim.wire import Call, retriever, stripe_route

__all__ = ["DECLINED_PAYMENT_METHOD", "invoice_routes"]

Obj = dict[str, Any]
DECLINED_PAYMENT_METHOD = "pm_card_chargeDeclined"
_COLLECTION = ("charge_automatically", "send_invoice")


def create_invoice_item(call: Call) -> Obj:
    params = call.params.only(
        [
            "customer",
            "amount",
            "currency",
            "unit_amount_decimal",
            "quantity",
            "price",
            "pricing",
            "description",
            "invoice",
            "metadata",
            "period",
            "discountable",
        ]
    )
    store = call.sim.store
    customer = store.get("customer", params.required_text("customer"), param="customer", status=400)
    quantity = params.integer("quantity", minimum=0)
    amount = params.integer("amount")
    unit_decimal = params.decimal("unit_amount_decimal")
    pricing = params.hash("pricing")
    price_id = params.text("price")
    if pricing is not None:
        pricing.only(["price"])
        price_id = pricing.required_text("price")
    supplied = {"amount": amount, "unit_amount_decimal": unit_decimal, "pricing[price]": price_id}
    given = [name for name, value in supplied.items() if value is not None]
    if len(given) != 1:
        raise ParamError(
            "Specify exactly one of amount, unit_amount_decimal or pricing[price].",
            param=given[1] if len(given) > 1 else "amount",
            code="parameter_missing" if not given else "parameter_invalid",
        )
    price = None
    if price_id is not None:
        price = store.get("price", price_id, param="pricing[price]", status=400)
        item_currency = price["currency"]
        unit_decimal = Decimal(price["unit_amount_decimal"])
    else:
        item_currency = currency(params)
    if amount is not None:
        if quantity not in (None, 1):
            raise ParamError("quantity can only be given with unit_amount_decimal or a price.", param="quantity")
        quantity = 1
    else:
        quantity = 1 if quantity is None else quantity
        assert unit_decimal is not None
        amount = int((unit_decimal * quantity).to_integral_value(ROUND_HALF_UP))
    period = params.hash("period")
    created = now()
    start = end = created
    if period is not None:
        period.only(["start", "end"])
        start = period.integer("start", required=True) or created
        end = period.integer("end", required=True) or created
        if end < start:
            raise ParamError("period[end] must be on or after period[start].", param="period[end]")
    invoice = None
    invoice_id = params.text("invoice")
    if invoice_id is not None:
        invoice = store.get("invoice", invoice_id, param="invoice", status=400)
        _check_attachable(invoice, customer["id"], item_currency)
    discountable = params.boolean("discountable")
    item: Obj = {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": item_currency,
        "customer": customer["id"],
        "date": created,
        "description": params.text("description", max_length=5000),
        "discountable": True if discountable is None else discountable,
        "invoice": invoice_id,
        "livemode": False,
        "metadata": params.metadata() or {},
        "parent": None,
        "period": {"start": start, "end": end},
        "pricing": None
        if price is None
        else {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "proration": False,
        "quantity": quantity,
        "unit_amount_decimal": None if unit_decimal is None else format(unit_decimal, "f"),
    }
    call.created(item, "invoiceitem.created")
    if invoice is not None:
        _attach(call, invoice, item)
    return item


def _check_attachable(invoice: Obj, customer_id: str, item_currency: str | None) -> None:
    if invoice["status"] != "draft":
        raise StripeError(
            400,
            f"You can only add invoice items to draft invoices; {invoice['id']} is {invoice['status']}.",
            code="invoice_not_editable",
            param="invoice",
        )
    if invoice["customer"] != customer_id:
        raise StripeError(400, "The invoice belongs to another customer.", param="invoice")
    if item_currency != invoice["currency"]:
        raise StripeError(
            400,
            f"The invoice item currency ({item_currency}) must match the invoice currency ({invoice['currency']}).",
            param="currency",
        )


def _attach(call: Call, invoice: Obj, item: Obj) -> None:
    """Add `item` to the draft `invoice` as a line and recompute its totals."""
    item["invoice"] = invoice["id"]
    invoice["lines"]["data"].append(
        {
            "id": new_id("il"),
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discountable": item["discountable"],
            "invoice": invoice["id"],
            "livemode": False,
            "metadata": dict(item["metadata"]),
            "parent": {
                "type": "invoice_item_details",
                "invoice_item_details": {"invoice_item": item["id"], "proration": False},
            },
            "period": dict(item["period"]),
            "pricing": item["pricing"],
            "quantity": item["quantity"],
        }
    )
    invoice["lines"]["total_count"] = len(invoice["lines"]["data"])
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    invoice.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=max(total, 0),
        amount_remaining=max(total, 0),
    )


def create_invoice(call: Call) -> Obj:
    params = call.params.only(
        [
            "customer",
            "currency",
            "auto_advance",
            "collection_method",
            "days_until_due",
            "description",
            "metadata",
            "pending_invoice_items_behavior",
            "footer",
        ]
    )
    store = call.sim.store
    customer = store.get("customer", params.required_text("customer"), param="customer", status=400)
    invoice_currency = currency(params, required=False) or customer["currency"] or "usd"
    collection = params.choice("collection_method", _COLLECTION) or "charge_automatically"
    days_until_due = params.integer("days_until_due", minimum=0)
    if (collection == "send_invoice") != (days_until_due is not None):
        raise ParamError(
            "days_until_due is required exactly when collection_method=send_invoice.", param="days_until_due"
        )
    pending = params.choice("pending_invoice_items_behavior", ("exclude", "include")) or "exclude"
    auto_advance = params.boolean("auto_advance")
    created = now()
    invoice_id = new_id("in")
    invoice: Obj = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "stripe_sim",
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": bool(auto_advance),
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": "manual",
        "collection_method": collection,
        "created": created,
        "currency": invoice_currency,
        "customer": customer["id"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "description": params.text("description", max_length=1500),
        "due_date": None if days_until_due is None else created + days_until_due * 86400,
        "effective_at": None,
        "footer": params.text("footer", max_length=5000),
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": params.metadata() or {},
        "next_payment_attempt": None,
        "number": None,
        "period_end": created,
        "period_start": created,
        "starting_balance": 0,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "total": 0,
        "total_excluding_tax": 0,
        "webhooks_delivered_at": None,
    }
    store.add(invoice)
    if pending == "include":
        for item in reversed(store.all("invoiceitem")):
            if item["customer"] == customer["id"] and item["invoice"] is None and item["currency"] == invoice_currency:
                _attach(call, invoice, item)
    call.emit("invoice.created", invoice)
    return invoice


def list_invoices(call: Call) -> Obj:
    params = call.params.only(["customer", "status", "limit", "starting_after", "ending_before"])
    customer = params.text("customer")
    status = params.choice("status", ("draft", "open", "paid", "uncollectible", "void"))
    return call.sim.store.page(
        "invoice",
        params,
        "/v1/invoices",
        where=lambda i: (customer is None or i["customer"] == customer) and (status is None or i["status"] == status),
    )


def list_invoice_lines(call: Call) -> Obj:
    call.params.only(["limit", "starting_after", "ending_before"])
    invoice = call.sim.store.get("invoice", call.path["id"])
    return list_object(invoice["lines"]["url"], invoice["lines"]["data"])


def finalize_invoice(call: Call) -> Obj:
    params = call.params.only(["auto_advance"])
    auto_advance = params.boolean("auto_advance")
    invoice = call.sim.store.get("invoice", call.path["id"])
    if invoice["status"] != "draft":
        raise StripeError(
            400,
            f"This invoice is already finalized, you can't re-finalize a non-draft invoice: {invoice['id']}",
            code="invoice_not_editable",
        )
    _finalize(call, invoice, auto_advance)
    return invoice


def _finalize(call: Call, invoice: Obj, auto_advance: bool | None) -> None:
    customer = call.sim.store.get("customer", invoice["customer"])
    finalized = now()
    invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    invoice["status"] = "open"
    invoice["effective_at"] = finalized
    invoice["status_transitions"]["finalized_at"] = finalized
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    call.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0:
        _mark_paid(call, invoice)


def _mark_paid(call: Call, invoice: Obj) -> None:
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, attempted=True)
    invoice["status_transitions"]["paid_at"] = now()
    call.emit("invoice.paid", invoice)
    call.emit("invoice.payment_succeeded", invoice)


def pay_invoice(call: Call) -> Obj:
    params = call.params.only(["paid_out_of_band", "payment_method", "off_session", "forgive", "source"])
    out_of_band = params.boolean("paid_out_of_band")
    params.boolean("off_session")
    params.boolean("forgive")
    payment_method = params.text("payment_method") or params.text("source")
    invoice = call.sim.store.get("invoice", call.path["id"])
    if invoice["status"] == "paid":
        raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] in ("void", "uncollectible"):
        raise StripeError(
            400, f"You cannot pay an invoice with status {invoice['status']}.", code="invoice_not_editable"
        )
    if invoice["status"] == "draft":
        _finalize(call, invoice, None)
        if invoice["status"] == "paid":
            return invoice
    if payment_method == DECLINED_PAYMENT_METHOD and not out_of_band:
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        call.emit("invoice.payment_failed", invoice)
        raise StripeError(
            402, "Your card was declined.", type="card_error", code="card_declined", decline_code="generic_decline"
        )
    invoice["attempt_count"] += 0 if out_of_band else 1
    _mark_paid(call, invoice)
    return invoice


def void_invoice(call: Call) -> Obj:
    call.params.only([])
    invoice = call.sim.store.get("invoice", call.path["id"])
    if invoice["status"] != "open":
        raise StripeError(400, f"You can only void open invoices; {invoice['id']} is {invoice['status']}.")
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = now()
    call.emit("invoice.voided", invoice)
    return invoice


def invoice_routes() -> list[Route]:
    return [
        stripe_route("/v1/invoiceitems", {"POST": create_invoice_item}),
        stripe_route("/v1/invoices", {"POST": create_invoice, "GET": list_invoices}),
        stripe_route("/v1/invoices/{id}", {"GET": retriever("invoice")}),
        stripe_route("/v1/invoices/{id}/lines", {"GET": list_invoice_lines}),
        stripe_route("/v1/invoices/{id}/finalize", {"POST": finalize_invoice}),
        stripe_route("/v1/invoices/{id}/pay", {"POST": pay_invoice}),
        stripe_route("/v1/invoices/{id}/void", {"POST": void_invoice}),
    ]
