"""A period's usage: the tenant's own (`GET /v1/billing/usage`) and any tenant's for a platform admin."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from aiaas import clock
from aiaas.deps import AdminDep, AdminSessionDep, TenantSessionDep
from aiaas.errors import NotFound
from billing.metering.schemas import UsageOut, parse_period, usage_json
from billing.metering.service import period_usage
from billing.state import AdminStateDep, BillingReadDep, StateDep

__all__ = ["router", "admin_router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])
admin_router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


@router.get("/usage", response_model=UsageOut)
async def get_usage(
    state: StateDep, principal: BillingReadDep, session: TenantSessionDep, period: str | None = None
) -> dict[str, object]:
    """Usage of the open period (`period=current`) or of the period starting on `period` (YYYY-MM-DD)."""
    day = parse_period(period)
    catalogue = await state.catalogue.get()
    return usage_json(await period_usage(session, catalogue, principal.tenant_id, day, clock.now()))


@admin_router.get("/tenants/{tenant_id}/usage", response_model=UsageOut)
async def tenant_usage(
    state: AdminStateDep, session: AdminSessionDep, tenant_id: uuid.UUID, period: str | None = None
) -> dict[str, object]:
    """Any tenant's usage, as the tenant sees it."""
    day = parse_period(period)
    catalogue = await state.catalogue.get()
    try:
        usage = await period_usage(session, catalogue, tenant_id, day, clock.now())
    except IntegrityError as exc:
        raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found") from exc
    return usage_json(usage)
