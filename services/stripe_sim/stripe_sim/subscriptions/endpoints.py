"""Subscriptions and their items: create, retrieve, update, cancel, list."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.routing import Route

from stripe_sim.errors import ParamError, StripeError
from stripe_sim.forms import Params
from stripe_sim.store import new_id, now
from stripe_sim.wire import Call, retriever, stripe_route

__all__ = ["period_end", "subscription_routes"]

Obj = dict[str, Any]
_MAX_ITEMS = 20
_UPDATABLE = ("description", "cancel_at_period_end", "default_payment_method", "collection_method")
_STATUSES = ("active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "trialing", "paused")


def period_end(start: int, interval: str, count: int) -> int:
    """End of a billing period: calendar months and years, fixed days and weeks."""
    begin = datetime.fromtimestamp(start, UTC)
    if interval in ("day", "week"):
        return int((begin + timedelta(days=count * (7 if interval == "week" else 1))).timestamp())
    months = begin.month - 1 + count * (12 if interval == "year" else 1)
    year, month = begin.year + months // 12, months % 12 + 1
    day = min(begin.day, calendar.monthrange(year, month)[1])
    return int(begin.replace(year=year, month=month, day=day).timestamp())


def _item(call: Call, item: Params, subscription_id: str, start: int) -> Obj:
    """A new subscription item from `items[n]` parameters (validated, not stored yet)."""
    price = call.sim.store.get("price", item.required_text("price"), param=item.name("price"), status=400)
    if price["recurring"] is None:
        raise ParamError(
            f"The price specified is set to `type=one_time` but this field only accepts prices with "
            f"`type=recurring`: {price['id']}",
            param=item.name("price"),
        )
    quantity = item.integer("quantity", minimum=0)
    metered = price["recurring"]["usage_type"] == "metered"
    if metered and quantity is not None:
        raise ParamError("Quantity should not be specified where usage_type is `metered`.", param=item.name("quantity"))
    recurring = price["recurring"]
    return {
        "id": new_id("si", 14),
        "object": "subscription_item",
        "created": start,
        "current_period_start": start,
        "current_period_end": period_end(start, recurring["interval"], recurring["interval_count"]),
        "discounts": [],
        "metadata": item.metadata() or {},
        "price": price,
        "quantity": None if metered else (1 if quantity is None else quantity),
        "subscription": subscription_id,
        "tax_rates": [],
    }


def create_subscription(call: Call) -> Obj:
    params = call.params.only(
        [
            "customer",
            "items",
            "metadata",
            "description",
            "collection_method",
            "days_until_due",
            "cancel_at_period_end",
            "default_payment_method",
            "payment_behavior",
            "proration_behavior",
        ]
    )
    customer = call.sim.store.get("customer", params.required_text("customer"), param="customer", status=400)
    item_params = params.hashes("items", required=True)
    if len(item_params) > _MAX_ITEMS:
        raise ParamError(f"A subscription can have at most {_MAX_ITEMS} items.", param="items")
    params.choice(
        "payment_behavior", ("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
    )
    params.choice("proration_behavior", ("always_invoice", "create_prorations", "none"))
    collection = params.choice("collection_method", ("charge_automatically", "send_invoice")) or "charge_automatically"
    days_until_due = params.integer("days_until_due", minimum=0)
    if (collection == "send_invoice") != (days_until_due is not None):
        raise ParamError(
            "days_until_due is required exactly when collection_method=send_invoice.", param="days_until_due"
        )
    start = now()
    subscription_id = new_id("sub")
    items = [_item(call, item.only(["price", "quantity", "metadata"]), subscription_id, start) for item in item_params]
    currencies = {item["price"]["currency"] for item in items}
    if len(currencies) > 1:
        raise StripeError(400, "All prices on a subscription must have the same currency.", param="items")
    subscription: Obj = {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": start,
        "cancel_at": None,
        "cancel_at_period_end": bool(params.boolean("cancel_at_period_end")),
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection,
        "created": start,
        "currency": currencies.pop(),
        "customer": customer["id"],
        "days_until_due": days_until_due,
        "default_payment_method": params.text("default_payment_method"),
        "description": params.text("description", max_length=500),
        "discounts": [],
        "ended_at": None,
        "items": _items_list(subscription_id, items),
        "latest_invoice": None,
        "livemode": False,
        "metadata": params.metadata() or {},
        "start_date": start,
        "status": "active",
        "trial_end": None,
        "trial_start": None,
    }
    for item in items:
        call.sim.store.add(item)
    return call.created(subscription, "customer.subscription.created")


def _items_list(subscription_id: str, items: list[Obj]) -> Obj:
    return {
        "object": "list",
        "data": items,
        "has_more": False,
        "total_count": len(items),
        "url": f"/v1/subscription_items?subscription={subscription_id}",
    }


def update_subscription(call: Call) -> Obj:
    params = call.params.only([*_UPDATABLE, "metadata", "items", "proration_behavior", "payment_behavior"])
    store = call.sim.store
    subscription = store.get("subscription", call.path["id"])
    if subscription["status"] == "canceled":
        raise StripeError(
            400, "A canceled subscription can only update its cancellation_details and metadata.", param="items"
        )
    params.choice("proration_behavior", ("always_invoice", "create_prorations", "none"))
    previous: Obj = {}
    changes: Obj = {}
    if params.has("description"):
        changes["description"] = params.text("description", max_length=500) or None
    if params.has("cancel_at_period_end"):
        changes["cancel_at_period_end"] = bool(params.boolean("cancel_at_period_end"))
    if params.has("default_payment_method"):
        changes["default_payment_method"] = params.text("default_payment_method") or None
    if params.has("collection_method"):
        changes["collection_method"] = params.choice("collection_method", ("charge_automatically", "send_invoice"))
    items = _updated_items(call, subscription, params.hashes("items"))
    metadata = params.metadata()
    for key, value in changes.items():
        if subscription[key] != value:
            previous[key] = subscription[key]
            subscription[key] = value
    if metadata is not None:
        merged = {**subscription["metadata"], **metadata} if metadata else {}
        merged = {key: value for key, value in merged.items() if value != ""}
        if merged != subscription["metadata"]:
            previous["metadata"] = subscription["metadata"]
            subscription["metadata"] = merged
    if items is not None:
        previous["items"] = subscription["items"]
        for item in items:
            if store.find(item["id"]) is None:
                store.add(item)
        subscription["items"] = _items_list(subscription["id"], items)
    if previous:
        call.emit("customer.subscription.updated", subscription, previous)
    return subscription


def _updated_items(call: Call, subscription: Obj, item_params: list[Params]) -> list[Obj] | None:
    """The item list after `items[n][id|price|quantity|deleted]` changes, or None when unchanged."""
    if not item_params:
        return None
    current = {item["id"]: dict(item) for item in subscription["items"]["data"]}
    added: list[Obj] = []
    for item in item_params:
        item_id = item.text("id")
        if item_id is None:
            added.append(_item(call, item.only(["price", "quantity", "metadata"]), subscription["id"], now()))
            continue
        item.only(["id", "price", "quantity", "metadata", "deleted"])
        if item_id not in current:
            raise StripeError(
                400, f"No such subscription item: '{item_id}'", code="resource_missing", param=item.name("id")
            )
        if item.boolean("deleted"):
            del current[item_id]
            continue
        existing = current[item_id]
        if item.has("price"):
            replacement = _item(call, item.pick(["price"]), subscription["id"], now())
            existing["price"] = replacement["price"]
            existing["quantity"] = replacement["quantity"]
        quantity = item.integer("quantity", minimum=0)
        if quantity is not None:
            if existing["price"]["recurring"]["usage_type"] == "metered":
                raise ParamError(
                    "Quantity should not be specified where usage_type is `metered`.", param=item.name("quantity")
                )
            existing["quantity"] = quantity
        metadata = item.metadata()
        if metadata is not None:
            existing["metadata"] = {**existing["metadata"], **metadata}
    items = [*current.values(), *added]
    if not items:
        raise ParamError("A subscription must have at least one item.", param="items")
    return items


def cancel_subscription(call: Call) -> Obj:
    params = call.params.only(["invoice_now", "prorate", "cancellation_details"])
    params.boolean("invoice_now")
    params.boolean("prorate")
    details = params.hash("cancellation_details")
    comment = None
    if details is not None:
        details.only(["comment", "feedback"])
        comment = details.text("comment", max_length=5000)
    subscription = call.sim.store.get("subscription", call.path["id"])
    if subscription["status"] == "canceled":
        raise StripeError(400, f"This subscription has already been canceled: {subscription['id']}", param="id")
    ended = now()
    previous = {"status": subscription["status"], "canceled_at": None, "ended_at": None}
    subscription.update(status="canceled", canceled_at=ended, ended_at=ended)
    subscription["cancellation_details"] = {"comment": comment, "feedback": None, "reason": "cancellation_requested"}
    call.emit("customer.subscription.deleted", subscription, previous)
    return subscription


def list_subscriptions(call: Call) -> Obj:
    params = call.params.only(["customer", "price", "status", "limit", "starting_after", "ending_before"])
    customer = params.text("customer")
    status = params.choice("status", (*_STATUSES, "all", "ended"))

    def wanted(subscription: Obj) -> bool:
        if customer is not None and subscription["customer"] != customer:
            return False
        if status == "all":
            return True
        current: str = subscription["status"]
        if status is None:
            return current != "canceled"
        if status == "ended":
            return current in ("canceled", "incomplete_expired")
        return current == status

    return call.sim.store.page("subscription", params, "/v1/subscriptions", where=wanted)


def subscription_routes() -> list[Route]:
    return [
        stripe_route("/v1/subscriptions", {"POST": create_subscription, "GET": list_subscriptions}),
        stripe_route(
            "/v1/subscriptions/{id}",
            {"GET": retriever("subscription"), "POST": update_subscription, "DELETE": cancel_subscription},
        ),
    ]
