"""Customers, products and prices."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from starlette.routing import Route

from stripe_sim.errors import ParamError, StripeError
from stripe_sim.forms import Params
from stripe_sim.store import new_id, now
from stripe_sim.wire import Call, retriever, stripe_route

__all__ = ["catalog_routes", "currency"]

Obj = dict[str, Any]
_CUSTOMER_FIELDS = ("email", "name", "description", "phone")
_CURRENCY = re.compile(r"^[a-z]{3}$")
_INTERVALS = ("day", "week", "month", "year")


def currency(params: Params, key: str = "currency", *, required: bool = True) -> str | None:
    """A three-letter ISO currency code, lower-cased as Stripe stores it."""
    value = params.text(key, required=required, max_length=3)
    if value is None:
        return None
    value = value.lower()
    if not _CURRENCY.match(value):
        raise ParamError(f"Invalid currency: {value}", param=params.name(key), code="parameter_invalid_string")
    return value


def _merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: a key set to '' is removed, others are set."""
    if update is None:
        return current
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def create_customer(call: Call) -> Obj:
    params = call.params.only([*_CUSTOMER_FIELDS, "metadata", "invoice_prefix"])
    prefix = params.text("invoice_prefix", max_length=12)
    customer: Obj = {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "discount": None,
        "invoice_prefix": (prefix or "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
        "livemode": False,
        "metadata": params.metadata() or {},
        "next_invoice_sequence": 1,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    for field in _CUSTOMER_FIELDS:
        customer[field] = params.text(field, max_length=512)
    return call.created(customer, "customer.created")


def update_customer(call: Call) -> Obj:
    params = call.params.only([*_CUSTOMER_FIELDS, "metadata"])
    customer = call.sim.store.get("customer", call.path["id"])
    previous: Obj = {}
    for field in _CUSTOMER_FIELDS:
        if params.has(field):
            value = params.text(field, max_length=512) or None
            if value != customer[field]:
                previous[field] = customer[field]
                customer[field] = value
    metadata = _merge_metadata(customer["metadata"], params.metadata())
    if metadata != customer["metadata"]:
        previous["metadata"] = customer["metadata"]
        customer["metadata"] = metadata
    if previous:
        call.emit("customer.updated", customer, previous)
    return customer


def list_customers(call: Call) -> Obj:
    params = call.params.only(["email", "limit", "starting_after", "ending_before"])
    email = params.text("email", max_length=512)
    return call.sim.store.page(
        "customer", params, "/v1/customers", where=lambda c: email is None or c["email"] == email
    )


def create_product(call: Call) -> Obj:
    params = call.params.only(["id", "name", "active", "description", "metadata", "unit_label", "tax_code"])
    product_id = params.text("id", max_length=255) or new_id("prod", 14)
    if call.sim.store.find(product_id) is not None:
        raise StripeError(400, f"Product already exists: '{product_id}'", code="resource_already_exists", param="id")
    active = params.boolean("active")
    created = now()
    product: Obj = {
        "id": product_id,
        "object": "product",
        "active": True if active is None else active,
        "created": created,
        "default_price": None,
        "description": params.text("description"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": params.metadata() or {},
        "name": params.required_text("name"),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": params.text("tax_code"),
        "type": "service",
        "unit_label": params.text("unit_label", max_length=12),
        "updated": created,
        "url": None,
    }
    return call.created(product, "product.created")


def create_price(call: Call) -> Obj:
    params = call.params.only(
        [
            "currency",
            "product",
            "product_data",
            "unit_amount",
            "unit_amount_decimal",
            "recurring",
            "nickname",
            "lookup_key",
            "metadata",
            "active",
            "tax_behavior",
            "billing_scheme",
        ]
    )
    store = call.sim.store
    price_currency = currency(params)
    params.choice("billing_scheme", ("per_unit",))
    unit_amount = params.integer("unit_amount", minimum=0)
    unit_amount_decimal = params.decimal("unit_amount_decimal")
    if unit_amount is None and unit_amount_decimal is None:
        raise ParamError("Missing required param: unit_amount.", param="unit_amount", code="parameter_missing")
    if unit_amount is not None and unit_amount_decimal is not None:
        raise ParamError(
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.", param="unit_amount"
        )
    if unit_amount_decimal is not None and unit_amount_decimal < 0:
        raise ParamError("unit_amount_decimal must be positive.", param="unit_amount_decimal")
    recurring = _recurring(call, params.hash("recurring"))
    product_id = params.text("product")
    product_data = params.hash("product_data")
    if product_id is not None:
        store.get("product", product_id, param="product", status=400)
    elif product_data is not None:
        product_data.only(["name", "metadata", "unit_label"])
        product_data.required_text("name")
    else:
        raise ParamError("Missing required param: product.", param="product", code="parameter_missing")
    active = params.boolean("active")
    if product_id is None and product_data is not None:
        # Every parameter is valid: only now create the product the price brings along.
        product_id = create_product(Call(call.sim, product_data, {}, call.request_id, call.idempotency_key))["id"]
    price: Obj = {
        "id": new_id("price"),
        "object": "price",
        "active": True if active is None else active,
        "billing_scheme": "per_unit",
        "created": now(),
        "currency": price_currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": params.text("lookup_key", max_length=200),
        "metadata": params.metadata() or {},
        "nickname": params.text("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": params.choice("tax_behavior", ("exclusive", "inclusive", "unspecified")) or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": unit_amount if unit_amount_decimal is None else None,
        "unit_amount_decimal": str(unit_amount) if unit_amount_decimal is None else format(unit_amount_decimal, "f"),
    }
    if unit_amount_decimal is not None and unit_amount_decimal == unit_amount_decimal.to_integral_value():
        price["unit_amount"] = int(unit_amount_decimal)
    return call.created(price, "price.created")


def _recurring(call: Call, recurring: Params | None) -> Obj | None:
    if recurring is None:
        return None
    recurring.only(["interval", "interval_count", "usage_type", "meter", "trial_period_days"])
    usage_type = recurring.choice("usage_type", ("licensed", "metered")) or "licensed"
    meter = recurring.text("meter")
    if usage_type == "metered" and meter is None:
        raise ParamError(
            "Metered prices must be backed by a meter: pass recurring[meter].",
            param=recurring.name("meter"),
            code="parameter_missing",
        )
    if meter is not None:
        if usage_type != "metered":
            raise ParamError("recurring[meter] requires recurring[usage_type]=metered.", param=recurring.name("meter"))
        call.sim.store.get("billing.meter", meter, param=recurring.name("meter"), status=400)
    return {
        "interval": recurring.choice("interval", _INTERVALS, required=True),
        "interval_count": recurring.integer("interval_count", minimum=1) or 1,
        "meter": meter,
        "trial_period_days": recurring.integer("trial_period_days", minimum=0),
        "usage_type": usage_type,
    }


def catalog_routes() -> list[Route]:
    return [
        stripe_route("/v1/customers", {"POST": create_customer, "GET": list_customers}),
        stripe_route("/v1/customers/{id}", {"GET": retriever("customer"), "POST": update_customer}),
        stripe_route("/v1/products", {"POST": create_product}),
        stripe_route("/v1/products/{id}", {"GET": retriever("product")}),
        stripe_route("/v1/prices", {"POST": create_price}),
        stripe_route("/v1/prices/{id}", {"GET": retriever("price")}),
    ]
