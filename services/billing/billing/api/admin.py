"""Platform-admin endpoints (a named admin key, `Bearer sk-admin-...`), cross-tenant on platform_admin."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from aiaas import clock
from aiaas.db import admin_session
from aiaas.errors import NotFound
from billing.api.responses import PlanList, PlanOut, SubscriptionOut, UsageOut
from billing.api.schemas import (
    CloseRequest,
    PlanChoice,
    PlanCreate,
    PlanUpdate,
    plan_json,
    subscription_json,
    usage_json,
)
from billing.deps import AdminDep, AdminStateDep
from billing.invoicing import close_due_periods
from billing.plans import create_plan, update_plan
from billing.quota_sync import publish_tenant_quotas, read_tenant_quotas
from billing.subscriptions import change_plan
from billing.usage import parse_period, period_usage

__all__ = ["router"]

router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


def _now() -> datetime:
    return clock.now()


@router.get("/plans", response_model=PlanList)
async def list_plans(state: AdminStateDep) -> dict[str, Any]:
    """Every plan of the catalogue, active or not."""
    state.catalogue.invalidate()
    catalogue = await state.catalogue.get()
    return {"data": [plan_json(plan) for _, plan in sorted(catalogue.plans.items())]}


@router.post("/plans", status_code=201, response_model=PlanOut)
async def post_plan(state: AdminStateDep, body: PlanCreate) -> dict[str, Any]:
    """Add a plan with its per-tier prices (a 'standard' price is required)."""
    fields = body.model_dump(exclude={"code", "prices"})
    prices = {tier: price.as_tuple() for tier, price in body.prices.items()}
    async with admin_session(state.admin_sessions) as session:
        await create_plan(session, body.code, fields, prices)
    state.catalogue.invalidate()
    return plan_json((await state.catalogue.get()).plan(body.code))


@router.patch("/plans/{code}", response_model=PlanOut)
async def patch_plan(state: AdminStateDep, code: str, body: PlanUpdate) -> dict[str, Any]:
    """Change a plan's fields or prices; tenants on it see the change within the catalogue cache TTL."""
    fields = body.model_dump(exclude={"prices"}, exclude_unset=True)
    prices = {tier: price.as_tuple() for tier, price in body.prices.items()}
    async with admin_session(state.admin_sessions) as session:
        await update_plan(session, code, fields, prices)
    state.catalogue.invalidate()
    return plan_json((await state.catalogue.get()).plan(code))


@router.put("/tenants/{tenant_id}/subscription", response_model=SubscriptionOut)
async def put_tenant_plan(state: AdminStateDep, tenant_id: uuid.UUID, body: PlanChoice) -> dict[str, Any]:
    """Move a tenant to a plan (same rule as the tenant's own change); the quota follows at once."""
    state.catalogue.invalidate()
    catalogue = await state.catalogue.get()
    try:
        async with admin_session(state.admin_sessions) as session:
            _, after = await change_plan(session, catalogue, tenant_id, body.plan, _now())
            quotas = await read_tenant_quotas(session, catalogue, tenant_id)
    except IntegrityError as exc:
        raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found") from exc
    await publish_tenant_quotas(state.redis, state.plans, quotas)
    return subscription_json(after, catalogue.plan(after.plan_code))


@router.get("/tenants/{tenant_id}/usage", response_model=UsageOut)
async def tenant_usage(state: AdminStateDep, tenant_id: uuid.UUID, period: str | None = None) -> dict[str, Any]:
    """Any tenant's usage, as the tenant sees it."""
    day = parse_period(period)
    catalogue = await state.catalogue.get()
    try:
        async with admin_session(state.admin_sessions) as session:
            usage = await period_usage(session, catalogue, tenant_id, day, _now())
    except IntegrityError as exc:
        raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found") from exc
    return usage_json(usage)


@router.post("/close-periods")
async def post_close_periods(state: AdminStateDep, body: CloseRequest | None = None) -> dict[str, Any]:
    """Close every subscription period that has ended (at `now`); running it again creates nothing."""
    now = body.now if body is not None and body.now is not None else _now()
    catalogue = await state.catalogue.get()
    closed = await close_due_periods(state.admin_sessions, state.sessions, catalogue, now, state.settings.tax_rate)
    return {
        "now": now.isoformat(),
        "invoices": [
            {"tenant_id": str(tenant), "invoice_id": str(invoice)}
            for tenant, invoices in closed.items()
            for invoice in invoices
        ],
    }
