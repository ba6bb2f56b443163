"""`/admin/tenants`: create tenants; create, list and revoke their API keys (platform-admin key).

Served by the control plane, the one process holding the cross-tenant role for administration; the
gateways, which only resolve keys, no longer serve these routes. A revoked key stops working on every
gateway (and billing, analytics, realtime) within their auth cache TTL (`GATEWAY_AUTH_CACHE_TTL_S`,
`BILLING_AUTH_CACHE_TTL_S`, ...: 5 s by default): each resolves keys through the database and caches
a result at most that long.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, status

from aiaas.auth import AdminDep
from aiaas.db import admin_session
from aiaas.tenancy import create_api_key, create_tenant, list_api_keys, revoke_api_key
from control_plane.deps import StateDep
from control_plane.tenants.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, TenantCreate, TenantOut

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["tenants"], dependencies=[AdminDep])


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=TenantOut)
async def post_tenant(body: TenantCreate, state: StateDep) -> TenantOut:
    """Create a tenant."""
    async with admin_session(state.admin_sessions) as session:
        tenant = await create_tenant(session, **body.model_dump())
    return TenantOut(**asdict(tenant))


@router.post("/tenants/{tenant_id}/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def post_key(tenant_id: uuid.UUID, body: ApiKeyCreate, state: StateDep) -> ApiKeyCreated:
    """Create an API key; the secret is in this response only."""
    async with admin_session(state.admin_sessions) as session:
        row, new = await create_api_key(session, tenant_id=tenant_id, **body.model_dump())
    return ApiKeyCreated(**asdict(row), key=new.plaintext)


@router.get("/tenants/{tenant_id}/keys", response_model=list[ApiKeyOut])
async def get_keys(tenant_id: uuid.UUID, state: StateDep) -> list[ApiKeyOut]:
    """List a tenant's keys (prefixes only)."""
    async with admin_session(state.admin_sessions) as session:
        rows = await list_api_keys(session, tenant_id)
    return [ApiKeyOut(**asdict(row)) for row in rows]


@router.post("/tenants/{tenant_id}/keys/{key_id}/revoke", response_model=ApiKeyOut)
async def post_revoke(tenant_id: uuid.UUID, key_id: uuid.UUID, state: StateDep) -> ApiKeyOut:
    """Revoke a key; services refuse it once their auth cache (TTL, 5 s by default) lets go of it."""
    async with admin_session(state.admin_sessions) as session:
        row = await revoke_api_key(session, tenant_id, key_id)
    return ApiKeyOut(**asdict(row))
