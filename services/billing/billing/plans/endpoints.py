"""Platform-admin endpoints of the plan catalogue (`/admin/billing/plans`).

Edits run in their own transaction rather than AdminSessionDep: the catalogue cache is invalidated and
re-read after the commit, so the answer (and this process's next read) shows the change.
"""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.db import admin_session
from aiaas.deps import AdminDep
from billing.plans import service
from billing.plans.schemas import PlanCreate, PlanList, PlanOut, PlanUpdate, plan_json
from billing.state import AdminStateDep

__all__ = ["admin_router"]

admin_router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


@admin_router.get("/plans", response_model=PlanList)
async def list_plans(state: AdminStateDep) -> dict[str, object]:
    """Every plan of the catalogue, active or not."""
    state.catalogue.invalidate()
    catalogue = await state.catalogue.get()
    return {"data": [plan_json(plan) for _, plan in sorted(catalogue.plans.items())]}


@admin_router.post("/plans", status_code=201, response_model=PlanOut)
async def post_plan(state: AdminStateDep, body: PlanCreate) -> dict[str, object]:
    """Add a plan with its per-tier prices (a 'standard' price is required)."""
    fields = body.model_dump(exclude={"code", "prices"})
    prices = {tier: price.as_tuple() for tier, price in body.prices.items()}
    async with admin_session(state.admin_sessions) as session:
        await service.create_plan(session, body.code, fields, prices)
    state.catalogue.invalidate()
    return plan_json((await state.catalogue.get()).plan(body.code))


@admin_router.patch("/plans/{code}", response_model=PlanOut)
async def patch_plan(state: AdminStateDep, code: str, body: PlanUpdate) -> dict[str, object]:
    """Change a plan's fields or prices; tenants on it see the change within the catalogue cache TTL."""
    fields = body.model_dump(exclude={"prices"}, exclude_unset=True)
    prices = {tier: price.as_tuple() for tier, price in body.prices.items()}
    async with admin_session(state.admin_sessions) as session:
        await service.update_plan(session, code, fields, prices)
    state.catalogue.invalidate()
    return plan_json((await state.catalogue.get()).plan(code))
