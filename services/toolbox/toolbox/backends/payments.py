"""Payments: charge an order (the saga's pivot) and refund a charge (its compensation).

Test cards: `pm_card_declined` and `pm_card_insufficient_funds` are refused with 402 (fatal); anything else pays.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from toolbox.backends.orders import IDENT, find_order
from toolbox.errors import ToolboxError, conflict, not_found
from toolbox.objects import Charge, Refund, new_id
from toolbox.pipeline import CallDep, Outcome, run
from toolbox.schemas import Amount, Currency, Ident, Model, Text, now
from toolbox.store import TenantData

__all__ = ["DECLINED", "OPERATIONS", "router"]

OPERATIONS = ("payments.get_charge", "payments.charge", "payments.refund")
DECLINED = {"pm_card_declined": "card_declined", "pm_card_insufficient_funds": "insufficient_funds"}
PAYMENT_METHOD = r"^pm_[A-Za-z0-9_]{1,60}$"

router = APIRouter(prefix="/v1/payments", tags=["payments"])


class ChargeRequest(Model):
    order_id: Ident
    amount_minor: Amount
    currency: Currency = "usd"
    payment_method: Annotated[str, Field(pattern=PAYMENT_METHOD)] = "pm_card_visa"
    description: Text | None = None


class RefundRequest(Model):
    """Refund `amount_minor` (default: all that is left) of a charge."""

    charge_id: Ident
    amount_minor: Amount | None = Field(None, description="Minor units (cents); default: all that is left.")
    reason: Text | None = None


@router.post("/charges", status_code=201, response_model=Charge)
async def create_charge(call: CallDep, body: ChargeRequest) -> Response:
    """Charge an order: 404 unknown order, 402 `card_declined`/`insufficient_funds`."""

    def execute(data: TenantData) -> Outcome:
        order = find_order(data, body.order_id)
        declined = DECLINED.get(body.payment_method)
        if declined is not None:
            raise ToolboxError(402, declined, f"The card was declined ({declined}).", param="payment_method")
        charge = Charge(
            id=new_id("ch"),
            order_id=order.id,
            amount_minor=body.amount_minor,
            currency=body.currency,
            payment_method=body.payment_method,
            description=body.description,
            created=now(),
        )
        data.charges[charge.id] = charge
        return Outcome(201, charge, True)

    return await run(call, "payments.charge", body.model_dump(mode="json"), execute, side_effect=True)


@router.get("/charges/{charge_id}", response_model=Charge)
async def get_charge(call: CallDep, charge_id: Annotated[str, Path(pattern=IDENT)]) -> Response:
    def execute(data: TenantData) -> Outcome:
        charge = data.charges.get(charge_id)
        if charge is None:
            raise not_found("charge", charge_id)
        return Outcome(200, charge, False)

    return await run(call, "payments.get_charge", {"charge_id": charge_id}, execute, side_effect=False)


@router.post("/refunds", status_code=201, response_model=Refund)
async def create_refund(call: CallDep, body: RefundRequest) -> Response:
    """Refund a charge: 404 unknown charge, 409 `charge_already_refunded` or `refund_exceeds_charge`."""

    def execute(data: TenantData) -> Outcome:
        charge = data.charges.get(body.charge_id)
        if charge is None:
            raise not_found("charge", body.charge_id)
        left = charge.amount_minor - charge.amount_refunded_minor
        if left == 0:
            raise conflict("charge_already_refunded", f"Charge {charge.id!r} is already fully refunded.", "charge_id")
        amount_minor = left if body.amount_minor is None else body.amount_minor
        if amount_minor > left:
            raise conflict(
                "refund_exceeds_charge", f"Only {left} of charge {charge.id!r} can be refunded.", "amount_minor"
            )
        refund = Refund(
            id=new_id("re"),
            charge_id=charge.id,
            amount_minor=amount_minor,
            currency=charge.currency,
            reason=body.reason,
            created=now(),
        )
        charge.amount_refunded_minor += amount_minor
        charge.refunded = charge.amount_refunded_minor == charge.amount_minor
        data.refunds[refund.id] = refund
        return Outcome(201, refund, True)

    return await run(call, "payments.refund", body.model_dump(mode="json"), execute, side_effect=True)
