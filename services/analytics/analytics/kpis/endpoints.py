"""KPI endpoints: a tenant's own (tenant API key, RLS) and the platform admin's (across tenants)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from aiaas.db import admin_session, tenant_session
from analytics.deps import AdminDep, AdminStateDep, AnalyticsReadDep, StateDep
from analytics.kpis import repository
from analytics.kpis.csv_export import report_csv
from analytics.kpis.query import KpiQuery, KpiQueryDep
from analytics.kpis.schemas import AdminKpiReport, KpiReport
from analytics.kpis.service import build_admin_report, build_report
from analytics.state import AnalyticsState

__all__ = ["router", "admin_router"]

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
admin_router = APIRouter(prefix="/admin/analytics", tags=["admin"], dependencies=[AdminDep])


async def _tenant_report(state: AnalyticsState, tenant_id: uuid.UUID, query: KpiQuery) -> KpiReport:
    async with tenant_session(state.sessions, tenant_id) as session:
        rows = await repository.rollup_rows(session, query)
        billing = await repository.billing_counts(session, query)
    return build_report(query, rows, billing)


@router.get("/kpis")
async def tenant_kpis(state: StateDep, principal: AnalyticsReadDep, query: KpiQueryDep) -> KpiReport:
    """The calling tenant's KPIs over a range: totals, series, top models, per-key breakdown."""
    return await _tenant_report(state, principal.tenant_id, query)


@router.get("/kpis.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def tenant_kpis_csv(state: StateDep, principal: AnalyticsReadDep, query: KpiQueryDep) -> Response:
    """The series of `/v1/analytics/kpis` as CSV (header row, one row per bucket with data)."""
    report = await _tenant_report(state, principal.tenant_id, query)
    filename = f"kpis-{query.granularity}-{query.start:%Y%m%dT%H%M}-{query.end:%Y%m%dT%H%M}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@admin_router.get("/kpis")
async def admin_kpis(
    state: AdminStateDep,
    query: KpiQueryDep,
    tenant_id: Annotated[uuid.UUID | None, Query(description="Only this tenant")] = None,
) -> AdminKpiReport:
    """KPIs across tenants (or one), with a per-tenant breakdown; platform-admin key only."""
    async with admin_session(state.admin_sessions) as session:
        rows = await repository.rollup_rows(session, query, tenant_id)
        billing = await repository.billing_counts(session, query, tenant_id)
    return build_admin_report(query, tenant_id, rows, billing)
