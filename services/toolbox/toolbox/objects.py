"""The objects the business systems keep, as they are answered on the wire."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from toolbox.schemas import Address, Amount, Currency, Email, Ident, Metadata, Model, Phone, Sku, Text, now

__all__ = [
    "Callback",
    "Charge",
    "Lead",
    "Message",
    "Order",
    "OrderCustomer",
    "OrderItem",
    "Refund",
    "Reservation",
    "ReservationItem",
    "Shipment",
    "StockLevel",
    "new_id",
]


def new_id(prefix: str) -> str:
    """A fresh object id, `<prefix>_<16 hex>`."""
    return f"{prefix}_{secrets.token_hex(8)}"


class OrderItem(Model):
    sku: Sku
    name: Text
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    unit_amount_minor: Amount


class OrderCustomer(Model):
    email: Email
    name: Text


class Order(Model):
    """An order as the shop holds it (seeded; the toolbox never creates orders through /v1)."""

    id: Ident
    status: Literal["pending", "paid", "fulfilled", "cancelled"] = "pending"
    customer: OrderCustomer
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=100)]
    amount_minor: Amount
    currency: Currency = "usd"
    shipping_address: Address
    created: datetime = Field(default_factory=now)


class StockLevel(Model):
    """Units of one SKU: `available` can be reserved, `reserved` is held by active reservations."""

    sku: Sku
    available: Annotated[int, Field(ge=0, le=10_000_000)]
    reserved: Annotated[int, Field(ge=0)] = 0


class ReservationItem(Model):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class Reservation(Model):
    id: str
    order_id: Ident
    status: Literal["active", "released"]
    items: list[ReservationItem]
    created: datetime
    released_at: datetime | None = None


class Charge(Model):
    id: str
    order_id: Ident
    amount_minor: Amount
    amount_refunded_minor: int = Field(0, ge=0, description="Refunded so far, in minor units (cents).")
    currency: Currency
    payment_method: str
    status: Literal["succeeded"] = "succeeded"
    refunded: bool = False
    description: str | None = None
    created: datetime


class Refund(Model):
    id: str
    charge_id: str
    amount_minor: Amount
    currency: Currency
    reason: str | None = None
    status: Literal["succeeded"] = "succeeded"
    created: datetime


class Shipment(Model):
    id: str
    order_id: Ident
    reservation_id: str | None
    carrier: str
    address: Address
    status: Literal["created", "cancelled"]
    tracking_number: str
    created: datetime
    cancelled_at: datetime | None = None


class Lead(Model):
    id: str
    email: Email
    name: Text
    company: Text | None = None
    phone: Phone | None = None
    source: Text | None = None
    score: int | None = None
    notes: Text | None = None
    created: datetime = Field(default_factory=now)


class Callback(Model):
    id: str
    lead_id: str
    at: datetime
    channel: Literal["phone", "video"]
    note: str | None = None
    status: Literal["scheduled", "cancelled"]
    created: datetime


class Message(Model):
    id: str
    channel: Literal["email", "sms"]
    to: str
    subject: str | None = None
    body: str
    metadata: Metadata = Field(default_factory=dict)
    status: Literal["sent"] = "sent"
    created: datetime
