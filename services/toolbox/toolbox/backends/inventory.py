"""Inventory: stock per SKU, reservations (reserve before charging; release is the compensation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from toolbox.backends.orders import IDENT, find_order
from toolbox.errors import conflict, not_found, unprocessable
from toolbox.objects import Reservation, ReservationItem, StockLevel, new_id
from toolbox.pipeline import CallDep, Outcome, run
from toolbox.schemas import Ident, Model, now
from toolbox.store import TenantData

__all__ = ["OPERATIONS", "router"]

OPERATIONS = ("inventory.get", "inventory.get_reservation", "inventory.reserve", "inventory.release")
SKU = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])


class ReserveRequest(Model):
    """Hold stock for an order; without `items`, the order's own items."""

    order_id: Ident
    items: Annotated[list[ReservationItem], Field(min_length=1, max_length=50)] | None = None


@router.get("/{sku}", response_model=StockLevel)
async def get_stock(call: CallDep, sku: Annotated[str, Path(pattern=SKU)]) -> Response:
    """Available and reserved units of one SKU."""

    def execute(data: TenantData) -> Outcome:
        level = data.stock.get(sku)
        if level is None:
            raise not_found("sku", sku)
        return Outcome(200, level, False)

    return await run(call, "inventory.get", {"sku": sku}, execute, side_effect=False)


@router.post("/reservations", status_code=201, response_model=Reservation)
async def reserve(call: CallDep, body: ReserveRequest) -> Response:
    """Reserve every item or none: 404 unknown order, 422 unknown SKU or duplicate SKU, 409 `insufficient_stock`."""

    def execute(data: TenantData) -> Outcome:
        order = find_order(data, body.order_id)
        items = body.items or [ReservationItem(sku=item.sku, quantity=item.quantity) for item in order.items]
        skus = [item.sku for item in items]
        if len(set(skus)) != len(skus):
            raise unprocessable("duplicate_sku", "Each SKU may appear once in a reservation.", "items")
        for item in items:
            level = data.stock.get(item.sku)
            if level is None:
                raise unprocessable("unknown_sku", f"No SKU {item.sku!r} in the inventory.", "items")
            if level.available < item.quantity:
                raise conflict(
                    "insufficient_stock",
                    f"SKU {item.sku!r}: {item.quantity} requested, {level.available} available.",
                    "items",
                )
        for item in items:
            level = data.stock[item.sku]
            level.available -= item.quantity
            level.reserved += item.quantity
        reservation = Reservation(id=new_id("res"), order_id=order.id, status="active", items=items, created=now())
        data.reservations[reservation.id] = reservation
        return Outcome(201, reservation, True)

    return await run(call, "inventory.reserve", body.model_dump(mode="json"), execute, side_effect=True)


@router.get("/reservations/{reservation_id}", response_model=Reservation)
async def get_reservation(call: CallDep, reservation_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    def execute(data: TenantData) -> Outcome:
        reservation = data.reservations.get(reservation_id)
        if reservation is None:
            raise not_found("reservation", reservation_id)
        return Outcome(200, reservation, False)

    return await run(call, "inventory.get_reservation", {"reservation_id": reservation_id}, execute, side_effect=False)


@router.post("/reservations/{reservation_id}/release", response_model=Reservation)
async def release(call: CallDep, reservation_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    """Give the reserved units back; releasing a released reservation is a no-op (200, no effect)."""

    def execute(data: TenantData) -> Outcome:
        reservation = data.reservations.get(reservation_id)
        if reservation is None:
            raise not_found("reservation", reservation_id)
        if reservation.status == "released":
            return Outcome(200, reservation, False)
        for item in reservation.items:
            # A seed may have replaced the SKU's stock level since: give the units back to what is there now.
            level = data.stock.setdefault(item.sku, StockLevel(sku=item.sku, available=0))
            level.available += item.quantity
            level.reserved = max(0, level.reserved - item.quantity)
        reservation.status = "released"
        reservation.released_at = now()
        return Outcome(200, reservation, True)

    return await run(call, "inventory.release", {"reservation_id": reservation_id}, execute, side_effect=True)
