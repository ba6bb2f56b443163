"""The business systems: one router per backend under /v1, each call through toolbox.pipeline."""

from __future__ import annotations

from fastapi import APIRouter

from toolbox.backends import crm, inventory, notify, orders, payments, shipments

__all__ = ["OPERATIONS", "backend_routers"]

# Every operation name (what fault rules and counters are keyed by), read-only ones first.
OPERATIONS: tuple[str, ...] = (
    *orders.OPERATIONS,
    *inventory.OPERATIONS,
    *payments.OPERATIONS,
    *shipments.OPERATIONS,
    *crm.OPERATIONS,
    *notify.OPERATIONS,
)


def backend_routers() -> list[APIRouter]:
    return [orders.router, inventory.router, payments.router, shipments.router, crm.router, notify.router]
