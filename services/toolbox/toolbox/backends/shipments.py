"""Shipments: create one for an order (after the pivot), cancel it.

Test address: postal code `00000` is undeliverable (422 `address_undeliverable`, fatal).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from starlette.responses import Response

from toolbox.backends.orders import IDENT, find_order
from toolbox.errors import conflict, not_found, unprocessable
from toolbox.objects import Shipment, new_id
from toolbox.pipeline import CallDep, Outcome, run
from toolbox.schemas import Address, Ident, Model, now
from toolbox.store import TenantData

__all__ = ["OPERATIONS", "UNDELIVERABLE_POSTAL_CODE", "router"]

OPERATIONS = ("shipments.get", "shipments.create", "shipments.cancel")
UNDELIVERABLE_POSTAL_CODE = "00000"

router = APIRouter(prefix="/v1/shipments", tags=["shipments"])


class ShipmentRequest(Model):
    """Ship an order to `address` (default: the order's shipping address), optionally from a reservation."""

    order_id: Ident
    reservation_id: Ident | None = None
    address: Address | None = None
    carrier: Literal["ups", "dhl", "fedex", "usps"] = "ups"


@router.post("", status_code=201, response_model=Shipment)
async def create_shipment(call: CallDep, body: ShipmentRequest) -> Response:
    """404 unknown order or reservation, 409 `reservation_not_active`, 422 `address_undeliverable`."""

    def execute(data: TenantData) -> Outcome:
        order = find_order(data, body.order_id)
        if body.reservation_id is not None:
            reservation = data.reservations.get(body.reservation_id)
            if reservation is None:
                raise not_found("reservation", body.reservation_id)
            if reservation.status != "active":
                raise conflict(
                    "reservation_not_active",
                    f"Reservation {reservation.id!r} is {reservation.status}.",
                    "reservation_id",
                )
        address = body.address or order.shipping_address
        if address.postal_code == UNDELIVERABLE_POSTAL_CODE:
            raise unprocessable("address_undeliverable", "The carrier cannot deliver to this address.", "address")
        shipment = Shipment(
            id=new_id("shp"),
            order_id=order.id,
            reservation_id=body.reservation_id,
            carrier=body.carrier,
            address=address,
            status="created",
            tracking_number=f"1Z{secrets.token_hex(8).upper()}",
            created=now(),
        )
        data.shipments[shipment.id] = shipment
        return Outcome(201, shipment, True)

    return await run(call, "shipments.create", body.model_dump(mode="json"), execute, side_effect=True)


@router.get("/{shipment_id}", response_model=Shipment)
async def get_shipment(call: CallDep, shipment_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    def execute(data: TenantData) -> Outcome:
        shipment = data.shipments.get(shipment_id)
        if shipment is None:
            raise not_found("shipment", shipment_id)
        return Outcome(200, shipment, False)

    return await run(call, "shipments.get", {"shipment_id": shipment_id}, execute, side_effect=False)


@router.post("/{shipment_id}/cancel", response_model=Shipment)
async def cancel_shipment(call: CallDep, shipment_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    """Cancel a shipment; cancelling a cancelled one is a no-op (200, no effect)."""

    def execute(data: TenantData) -> Outcome:
        shipment = data.shipments.get(shipment_id)
        if shipment is None:
            raise not_found("shipment", shipment_id)
        if shipment.status == "cancelled":
            return Outcome(200, shipment, False)
        shipment.status = "cancelled"
        shipment.cancelled_at = now()
        return Outcome(200, shipment, True)

    return await run(call, "shipments.cancel", {"shipment_id": shipment_id}, execute, side_effect=True)
