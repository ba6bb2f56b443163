"""Tenant top-ups: a Stripe Checkout Session to pay; credit comes only from Stripe's signed webhook."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from aiaas import clock
from aiaas.db import tenant_session
from aiaas.errors import BadRequest
from billing.api.credit_schemas import TopUpOut, TopUpRequest, top_up_json
from billing.api.idempotency import idempotency_key
from billing.checkout import create_checkout_session
from billing.credits import IdempotencyConflict
from billing.deps import BillingManageDep, BillingReadDep, StateDep
from billing.stripe_client import StripeApi
from billing.subscriptions import read_subscription
from billing.topups import TopUp, get_top_up, insert_top_up, top_up_by_key

__all__ = ["router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])


def _stripe(request: Request) -> StripeApi | None:
    """The Stripe client the tenant API's lifespan made (None: STRIPE_API_KEY unset)."""
    return getattr(request.state, "stripe", None)


StripeDep = Annotated[StripeApi | None, Depends(_stripe)]


@router.post("/balance/top-ups", status_code=201, response_model=TopUpOut)
async def post_top_up(
    state: StateDep, principal: BillingManageDep, body: TopUpRequest, request: Request, stripe_api: StripeDep
) -> JSONResponse:
    """Start a top-up: a Stripe Checkout Session to pay at `checkout_url`; nothing is credited until it is paid.

    The same `Idempotency-Key` returns the same top-up (200); with another amount or currency, 409.
    """
    settings = state.settings
    if body.amount_minor > settings.max_top_up_minor:
        raise BadRequest(
            f"amount_minor must be at most {settings.max_top_up_minor}.", code="amount_too_large", param="amount_minor"
        )
    key = idempotency_key(request)
    tenant_id = principal.tenant_id
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, tenant_id) as session:
        sub = await read_subscription(session, tenant_id, clock.now())
        existing = await top_up_by_key(session, tenant_id, key)
    # The balance has the plan's currency; there is no conversion.
    currency = catalogue.plan(sub.plan_code).currency
    if body.currency is not None and body.currency != currency:
        raise BadRequest(f"Top-ups are in the plan currency, {currency}.", code="currency_mismatch", param="currency")
    if existing is not None:
        return _replayed(existing, body.amount_minor, currency)
    checkout = await create_checkout_session(
        stripe_api,
        tenant_id=tenant_id,
        key=key,
        amount_minor=body.amount_minor,
        currency=currency,
        success_url=body.success_url or settings.top_up_success_url,
        cancel_url=body.cancel_url or settings.top_up_cancel_url,
    )
    async with tenant_session(state.sessions, tenant_id) as session:
        stored = await insert_top_up(
            session, tenant_id, key=key, amount_minor=body.amount_minor, currency=currency, checkout_session=checkout
        )
    if stored.checkout_session_id != checkout["id"]:
        return _replayed(stored, body.amount_minor, currency)  # a concurrent request with the same key won
    return JSONResponse(top_up_json(stored), status_code=201)


def _replayed(existing: TopUp, amount_minor: int, currency: str) -> JSONResponse:
    if (existing.amount_minor, existing.currency) != (amount_minor, currency):
        raise IdempotencyConflict(
            "This Idempotency-Key was used for a top-up of another amount.", param="Idempotency-Key"
        )
    return JSONResponse(top_up_json(existing), status_code=200)


@router.get("/balance/top-ups/{top_up_id}", response_model=TopUpOut)
async def get_one_top_up(state: StateDep, principal: BillingReadDep, top_up_id: uuid.UUID) -> dict[str, Any]:
    """One top-up and its status (pending until Stripe's webhook says it was paid, failed or expired)."""
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        return top_up_json(await get_top_up(session, principal.tenant_id, top_up_id))
