"""The tenant's subscription (`/v1/billing/subscription`) and a platform admin's plan change for any tenant.

A plan change runs in its own transaction rather than the request's session dependency: the tenant's
quota state and plan code are published right after the commit (Redis never runs ahead of Postgres),
so the gateway's limit follows at once.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.deps import AdminDep, TenantSessionDep
from aiaas.errors import NotFound
from billing.metering.quota import publish_tenant_quotas, read_tenant_quotas
from billing.state import AdminStateDep, BillingManageDep, BillingReadDep, StateDep
from billing.subscriptions.schemas import PlanChoice, SubscriptionOut, subscription_json
from billing.subscriptions.service import change_plan, read_subscription

__all__ = ["router", "admin_router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])
admin_router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


@router.get("/subscription", response_model=SubscriptionOut)
async def get_subscription(state: StateDep, principal: BillingReadDep, session: TenantSessionDep) -> dict[str, object]:
    """The tenant's plan and open period (a tenant without one is on 'free')."""
    catalogue = await state.catalogue.get()
    sub = await read_subscription(session, principal.tenant_id, clock.now())
    return subscription_json(sub, catalogue.plan(sub.plan_code))


@router.post("/subscription", response_model=SubscriptionOut)
async def post_subscription(state: StateDep, principal: BillingManageDep, body: PlanChoice) -> dict[str, object]:
    """Change plan; it applies to the open period at once and the gateway's limit follows within a second."""
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, principal.tenant_id) as session:
        _, after = await change_plan(session, catalogue, principal.tenant_id, body.plan, clock.now())
        quotas = await read_tenant_quotas(session, catalogue, principal.tenant_id)
    await publish_tenant_quotas(state.redis, state.plans, quotas)
    return subscription_json(after, catalogue.plan(after.plan_code))


@admin_router.put("/tenants/{tenant_id}/subscription", response_model=SubscriptionOut)
async def put_tenant_plan(state: AdminStateDep, tenant_id: uuid.UUID, body: PlanChoice) -> dict[str, object]:
    """Move a tenant to a plan (same rule as the tenant's own change); the quota follows at once."""
    state.catalogue.invalidate()
    catalogue = await state.catalogue.get()
    try:
        async with admin_session(state.admin_sessions) as session:
            _, after = await change_plan(session, catalogue, tenant_id, body.plan, clock.now())
            quotas = await read_tenant_quotas(session, catalogue, tenant_id)
    except IntegrityError as exc:
        raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found") from exc
    await publish_tenant_quotas(state.redis, state.plans, quotas)
    return subscription_json(after, catalogue.plan(after.plan_code))
