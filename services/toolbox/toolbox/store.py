"""Each tenant's business data, in memory: a tenant sees only its own `TenantData`.

A tenant seen for the first time starts with the demo data (`TOOLBOX_DEMO_DATA`, default on): three orders and
the stock they need; `POST /control/seed` replaces or extends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from toolbox.objects import (
    Callback,
    Charge,
    Lead,
    Message,
    Order,
    Refund,
    Reservation,
    Shipment,
    StockLevel,
)

__all__ = ["DEMO_ORDERS", "DEMO_STOCK", "Store", "TenantData"]

_ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}

DEMO_ORDERS: tuple[dict[str, object], ...] = (
    {
        "id": "ORD-1001",
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "items": [
            {"sku": "SKU-TSHIRT", "name": "T-shirt", "quantity": 2, "unit_amount_minor": 1999},
            {"sku": "SKU-MUG", "name": "Mug", "quantity": 1, "unit_amount_minor": 1200},
        ],
        "amount_minor": 5198,
        "currency": "usd",
        "shipping_address": _ADDRESS,
    },
    {
        "id": "ORD-1002",
        "customer": {"email": "grace@example.com", "name": "Grace Hopper"},
        "items": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 3, "unit_amount_minor": 1200}],
        "amount_minor": 3600,
        "currency": "usd",
        "shipping_address": {**_ADDRESS, "name": "Grace Hopper", "country": "US", "postal_code": "10001"},
    },
    {
        "id": "ORD-1003",
        "customer": {"email": "alan@example.com", "name": "Alan Turing"},
        "items": [{"sku": "SKU-LAMP", "name": "Desk lamp", "quantity": 1, "unit_amount_minor": 125000}],
        "amount_minor": 125000,
        "currency": "usd",
        "shipping_address": {**_ADDRESS, "name": "Alan Turing"},
    },
)
DEMO_STOCK: tuple[dict[str, object], ...] = (
    {"sku": "SKU-TSHIRT", "available": 100},
    {"sku": "SKU-MUG", "available": 50},
    {"sku": "SKU-LAMP", "available": 5},
)


@dataclass(slots=True)
class TenantData:
    """One tenant's orders, stock and everything the tools created."""

    orders: dict[str, Order] = field(default_factory=dict)
    stock: dict[str, StockLevel] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    shipments: dict[str, Shipment] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    callbacks: dict[str, Callback] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)

    @classmethod
    def demo(cls) -> TenantData:
        data = cls()
        data.load(
            [Order.model_validate(order) for order in DEMO_ORDERS],
            [StockLevel.model_validate(level) for level in DEMO_STOCK],
            [],
        )
        return data

    def load(self, orders: list[Order], stock: list[StockLevel], leads: list[Lead]) -> None:
        """Add (or overwrite by id/SKU/email) seeded orders, stock levels and leads."""
        self.orders.update({order.id: order.model_copy(deep=True) for order in orders})
        self.stock.update({level.sku: level.model_copy() for level in stock})
        for lead in leads:
            existing = self.lead_by_email(lead.email)
            if existing is not None:
                del self.leads[existing.id]
            self.leads[lead.id] = lead.model_copy()

    def lead_by_email(self, email: str) -> Lead | None:
        """The lead with this (lower-cased) email, if any."""
        return next((lead for lead in self.leads.values() if lead.email == email.lower()), None)

    def snapshot(self) -> dict[str, object]:
        """JSON view of everything, for the control API."""
        sections: dict[str, Mapping[str, BaseModel]] = {
            "orders": self.orders,
            "stock": self.stock,
            "reservations": self.reservations,
            "charges": self.charges,
            "refunds": self.refunds,
            "shipments": self.shipments,
            "leads": self.leads,
            "callbacks": self.callbacks,
            "messages": self.messages,
        }
        return {name: [obj.model_dump(mode="json") for obj in objs.values()] for name, objs in sections.items()}


class Store:
    """Every tenant's data; a tenant's entry is born (empty or with the demo data) on first use."""

    def __init__(self, demo_data: bool) -> None:
        self.demo_data = demo_data
        self._tenants: dict[str, TenantData] = {}

    def tenant(self, tenant: str) -> TenantData:
        data = self._tenants.get(tenant)
        if data is None:
            data = TenantData.demo() if self.demo_data else TenantData()
            self._tenants[tenant] = data
        return data

    def replace(self, tenant: str, data: TenantData) -> None:
        self._tenants[tenant] = data

    def reset(self, tenant: str | None = None) -> None:
        """Forget one tenant's data (it is reborn on next use), or every tenant's."""
        if tenant is None:
            self._tenants.clear()
        else:
            self._tenants.pop(tenant, None)
