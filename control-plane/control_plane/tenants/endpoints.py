"""`/admin/tenants`: create tenants; create, list and revoke their API keys (platform-admin key).

Served by the control plane, the one process holding the cross-tenant role for administration; the
gateways, which only resolve keys, no longer serve these routes. A revoked key stops working on every
gateway (and billing, analytics, realtime) within their auth cache TTL (`GATEWAY_AUTH_CACHE_TTL_S`,
`BILLING_AUTH_CACHE_TTL_S`, ...: 5 s by default): each resolves keys through the database and caches
a result at most that long.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from aiaas.auth import AdminDep
from aiaas.deps import AdminSessionDep
from control_plane.tenants import service
from control_plane.tenants.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, TenantCreate, TenantOut

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["tenants"], dependencies=[AdminDep])


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=TenantOut)
async def post_tenant(body: TenantCreate, session: AdminSessionDep) -> TenantOut:
    """Create a tenant."""
    return await service.add_tenant(session, body)


@router.post("/tenants/{tenant_id}/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def post_key(tenant_id: uuid.UUID, body: ApiKeyCreate, session: AdminSessionDep) -> ApiKeyCreated:
    """Create an API key; the secret is in this response only."""
    return await service.add_key(session, tenant_id, body)


@router.get("/tenants/{tenant_id}/keys", response_model=list[ApiKeyOut])
async def get_keys(tenant_id: uuid.UUID, session: AdminSessionDep) -> list[ApiKeyOut]:
    """List a tenant's keys (prefixes only)."""
    return await service.keys_of(session, tenant_id)


@router.post("/tenants/{tenant_id}/keys/{key_id}/revoke", response_model=ApiKeyOut)
async def post_revoke(tenant_id: uuid.UUID, key_id: uuid.UUID, session: AdminSessionDep) -> ApiKeyOut:
    """Revoke a key; services refuse it once their auth cache (TTL, 5 s by default) lets go of it."""
    return await service.revoke_key(session, tenant_id, key_id)
