"""The prepaid balance: tenants read it and pay top-ups through Stripe Checkout; platform admins grant credit.

Credit comes only from Stripe's signed webhook (billing.stripe) or an audited admin grant.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.deps import AdminDep, AdminPrincipalDep, AdminSessionDep, TenantSessionDep
from aiaas.errors import BadRequest, NotFound
from billing.balance import rules, service
from billing.balance.schemas import (
    BalanceOut,
    CreditGrantList,
    CreditGrantOut,
    CreditGrantRequest,
    TopUpOut,
    TopUpRequest,
    credit_grant_json,
    top_up_json,
)
from billing.metering.quota import publish_tenant_quotas, read_tenant_quotas
from billing.state import AdminStateDep, BillingManageDep, BillingReadDep, StateDep
from billing.stripe.checkout import create_checkout_session
from billing.stripe.client import StripeApi
from billing.subscriptions.service import read_subscription

__all__ = ["admin_router", "idempotency_key", "router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])
admin_router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


def _stripe(request: Request) -> StripeApi | None:
    """The Stripe client the tenant API's lifespan made (None: STRIPE_API_KEY unset)."""
    api: StripeApi | None = getattr(request.state, "stripe", None)
    return api


StripeDep = Annotated[StripeApi | None, Depends(_stripe)]
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def idempotency_key(request: Request) -> str:
    """The request's `Idempotency-Key` (1-200 printable ASCII characters), or a fresh one when it sent none."""
    # Read in the handler, not as a dependency: a bad body answers 422 before a bad key answers 400.
    key = request.headers.get("idempotency-key")
    if key is None:
        return f"auto-{uuid.uuid4()}"
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadRequest(
            "Idempotency-Key must be 1-200 printable ASCII characters.",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key


@router.get("/balance", response_model=BalanceOut)
async def get_balance(state: StateDep, principal: BillingReadDep, session: TenantSessionDep) -> dict[str, Any]:
    """Prepaid credit balance in minor units."""
    sub = await read_subscription(session, principal.tenant_id, clock.now())
    amount = await service.balance(session, principal.tenant_id)
    catalogue = await state.catalogue.get()
    return {"balance_minor": amount, "currency": catalogue.plan(sub.plan_code).currency}


@router.post("/balance/top-ups", status_code=201, response_model=TopUpOut)
async def post_top_up(
    state: StateDep, principal: BillingManageDep, body: TopUpRequest, request: Request, stripe_api: StripeDep
) -> JSONResponse:
    """Start a top-up: a Stripe Checkout Session to pay at `checkout_url`; nothing is credited until it is paid.

    The same `Idempotency-Key` returns the same top-up (200); with another amount or currency, 409.
    """
    settings = state.settings
    rules.check_top_up_amount(body.amount_minor, settings.max_top_up_minor)
    key = idempotency_key(request)
    tenant_id = principal.tenant_id
    catalogue = await state.catalogue.get()
    # Two short transactions rather than TenantSessionDep: none stays open (holding a pooled
    # connection, or a new subscription row's lock) while Stripe answers, retries included.
    async with tenant_session(state.sessions, tenant_id) as session:
        sub = await read_subscription(session, tenant_id, clock.now())
        existing = await service.find_top_up(session, tenant_id, key)
    currency = rules.top_up_currency(body.currency, catalogue.plan(sub.plan_code).currency)
    if existing is not None:
        rules.check_top_up_replay(existing, body.amount_minor, currency)
        return JSONResponse(top_up_json(existing), status_code=200)
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
        stored = await service.record_top_up(
            session, tenant_id, key=key, amount_minor=body.amount_minor, currency=currency, checkout=checkout
        )
    if stored.checkout_session_id != checkout.id:  # a concurrent request with the same key won
        rules.check_top_up_replay(stored, body.amount_minor, currency)
        return JSONResponse(top_up_json(stored), status_code=200)
    return JSONResponse(top_up_json(stored), status_code=201)


@router.get("/balance/top-ups/{top_up_id}", response_model=TopUpOut)
async def get_one_top_up(principal: BillingReadDep, session: TenantSessionDep, top_up_id: uuid.UUID) -> dict[str, Any]:
    """One top-up and its status (pending until Stripe's webhook says it was paid, failed or expired)."""
    top_up = await service.get_top_up(session, principal.tenant_id, top_up_id)
    return top_up_json(top_up)


@admin_router.post("/tenants/{tenant_id}/credit-grants", status_code=201, response_model=CreditGrantOut)
async def post_credit_grant(
    state: AdminStateDep, admin: AdminPrincipalDep, tenant_id: uuid.UUID, body: CreditGrantRequest, request: Request
) -> JSONResponse:
    """Credit a tenant's balance (plan currency) with a reason; the same Idempotency-Key grants once (200)."""
    key = idempotency_key(request)
    catalogue = await state.catalogue.get()
    now = clock.now()
    try:
        # Its own transaction rather than AdminSessionDep: the quota state is published after the commit.
        async with admin_session(state.admin_sessions) as session:
            sub = await read_subscription(session, tenant_id, now)
            grant, created = await service.grant_credit(
                session,
                tenant_id,
                amount_minor=body.amount_minor,
                currency=catalogue.plan(sub.plan_code).currency,
                reason=body.reason,
                actor=admin.name,
                admin_key_id=admin.key_id,
                idempotency_key=key,
                now=now,
            )
            balance_after = await service.balance(session, tenant_id)
            quotas = await read_tenant_quotas(session, catalogue, tenant_id)
    except IntegrityError as exc:
        raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found") from exc
    if created:
        await publish_tenant_quotas(state.redis, state.plans, quotas)
        return JSONResponse(credit_grant_json(grant, balance_after), status_code=201)
    return JSONResponse(credit_grant_json(grant), status_code=200)


@admin_router.get("/tenants/{tenant_id}/credit-grants", response_model=CreditGrantList)
async def get_credit_grants(
    session: AdminSessionDep, tenant_id: uuid.UUID, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """A tenant's credit grants, newest first, with who granted each and why."""
    grants = await service.list_grants(session, tenant_id, limit)
    return {"data": [credit_grant_json(grant) for grant in grants]}
