"""Platform admins grant credit with a reason; each grant is audited (who, when, how much, why)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from aiaas import clock
from aiaas.db import admin_session
from aiaas.errors import NotFound
from billing.api.credit_schemas import CreditGrantList, CreditGrantOut, CreditGrantRequest, credit_grant_json
from billing.api.idempotency import idempotency_key
from billing.credits import balance
from billing.deps import AdminDep, AdminPrincipalDep, AdminStateDep
from billing.grants import grant_credit, list_grants
from billing.quota_sync import publish_tenant_quotas, read_tenant_quotas
from billing.subscriptions import read_subscription

__all__ = ["router"]

router = APIRouter(prefix="/admin/billing", tags=["billing-admin"], dependencies=[AdminDep])


@router.post("/tenants/{tenant_id}/credit-grants", status_code=201, response_model=CreditGrantOut)
async def post_credit_grant(
    state: AdminStateDep, admin: AdminPrincipalDep, tenant_id: uuid.UUID, body: CreditGrantRequest, request: Request
) -> JSONResponse:
    """Credit a tenant's balance (plan currency) with a reason; the same Idempotency-Key grants once (200)."""
    key = idempotency_key(request)
    catalogue = await state.catalogue.get()
    now = clock.now()
    try:
        async with admin_session(state.admin_sessions) as session:
            sub = await read_subscription(session, tenant_id, now)
            grant, created = await grant_credit(
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
            balance_after = await balance(session, tenant_id)
            quotas = await read_tenant_quotas(session, catalogue, tenant_id)
    except IntegrityError as exc:
        raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found") from exc
    if created:
        await publish_tenant_quotas(state.redis, state.plans, quotas)
        return JSONResponse(credit_grant_json(grant, balance_after), status_code=201)
    return JSONResponse(credit_grant_json(grant), status_code=200)


@router.get("/tenants/{tenant_id}/credit-grants", response_model=CreditGrantList)
async def get_credit_grants(
    state: AdminStateDep, tenant_id: uuid.UUID, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """A tenant's credit grants, newest first, with who granted each and why."""
    async with admin_session(state.admin_sessions) as session:
        grants = await list_grants(session, tenant_id, limit)
    return {"data": [credit_grant_json(grant) for grant in grants]}
