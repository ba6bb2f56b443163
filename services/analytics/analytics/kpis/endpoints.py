"""KPI endpoints: a tenant's own (tenant API key, RLS) and the platform admin's (across tenants)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from aiaas.auth import AdminDep
from aiaas.deps import AdminSessionDep, TenantSessionDep, require_scope
from aiaas.scopes import ANALYTICS_READ
from analytics.kpis import repository
from analytics.kpis.csv_export import report_csv
from analytics.kpis.query import KpiQuery, KpiQueryDep
from analytics.kpis.schemas import AdminKpiReport, KpiReport
from analytics.kpis.service import build_admin_report, build_report

__all__ = ["router", "admin_router"]

# The scope is checked before the tenant's transaction opens (route dependencies resolve first).
router = APIRouter(prefix="/v1/analytics", tags=["analytics"], dependencies=[require_scope(ANALYTICS_READ)])
admin_router = APIRouter(prefix="/admin/analytics", tags=["admin"], dependencies=[AdminDep])


async def _tenant_report(session: AsyncSession, query: KpiQuery) -> KpiReport:
    # RLS narrows the rows to the caller's tenant: the session is bound to it.
    rows = await repository.rollup_rows(session, query)
    billing = await repository.billing_counts(session, query)
    return build_report(query, rows, billing, await repository.router_tier_rows(session, query))


@router.get("/kpis")
async def tenant_kpis(session: TenantSessionDep, query: KpiQueryDep) -> KpiReport:
    """The calling tenant's KPIs over a range: totals, series, top models, per-key breakdown."""
    return await _tenant_report(session, query)


@router.get("/kpis.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def tenant_kpis_csv(session: TenantSessionDep, query: KpiQueryDep) -> Response:
    """The series of `/v1/analytics/kpis` as CSV (header row, one row per bucket with data)."""
    report = await _tenant_report(session, query)
    filename = f"kpis-{query.granularity}-{query.start:%Y%m%dT%H%M}-{query.end:%Y%m%dT%H%M}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@admin_router.get("/kpis")
async def admin_kpis(
    session: AdminSessionDep,
    query: KpiQueryDep,
    tenant_id: Annotated[uuid.UUID | None, Query(description="Only this tenant")] = None,
) -> AdminKpiReport:
    """KPIs across tenants (or one), with a per-tenant breakdown; platform-admin key only."""
    rows = await repository.rollup_rows(session, query, tenant_id)
    billing = await repository.billing_counts(session, query, tenant_id)
    tiers = await repository.router_tier_rows(session, query, tenant_id)
    return build_admin_report(query, tenant_id, rows, billing, tiers)
