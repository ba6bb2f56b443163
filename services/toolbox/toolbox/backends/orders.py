"""Orders: look an order up by id (or list a customer's); orders are seeded, never created through /v1."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from starlette.responses import Response

from toolbox.errors import not_found
from toolbox.objects import Order
from toolbox.pipeline import CallDep, Outcome, run
from toolbox.store import TenantData

__all__ = ["OPERATIONS", "IDENT", "router"]

OPERATIONS = ("orders.get", "orders.list")
IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
EMAIL_QUERY = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}$"

router = APIRouter(prefix="/v1/orders", tags=["orders"])


class OrderList(BaseModel):
    data: list[Order]


def find_order(data: TenantData, order_id: str) -> Order:
    """The tenant's order, or 404 `order_not_found`."""
    order = data.orders.get(order_id)
    if order is None:
        raise not_found("order", order_id)
    return order


@router.get("/{order_id}", response_model=Order)
async def get_order(call: CallDep, order_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    """One order by id: status, customer, items, amount_minor, shipping address."""
    return await run(
        call,
        "orders.get",
        {"order_id": order_id},
        lambda data: Outcome(200, find_order(data, order_id), False),
        side_effect=False,
    )


@router.get("", response_model=OrderList)
async def list_orders(
    call: CallDep,
    customer_email: Annotated[str | None, Query(pattern=EMAIL_QUERY, max_length=254)] = None,
    status: Literal["pending", "paid", "fulfilled", "cancelled"] | None = None,
) -> Response:
    """The tenant's orders, optionally those of one customer email and/or in one status."""
    email = None if customer_email is None else customer_email.lower()

    def execute(data: TenantData) -> Outcome:
        orders = [
            order
            for order in data.orders.values()
            if (email is None or order.customer.email == email) and (status is None or order.status == status)
        ]
        return Outcome(200, OrderList(data=orders), False)

    return await run(call, "orders.list", {"customer_email": email, "status": status}, execute, side_effect=False)
