"""Tenant administration: tenants and their API keys, in the caller's platform_admin transaction.

The statements are aiaas.tenancy's (the tenants repository, shared with `python -m data_plane seed` and the
tests' factories); here they become the API's shapes. The request's session dependency commits.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.tenancy import create_api_key, create_tenant, list_api_keys, revoke_api_key
from control_plane.tenants.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, TenantCreate, TenantOut

__all__ = ["add_tenant", "add_key", "keys_of", "revoke_key"]


async def add_tenant(session: AsyncSession, body: TenantCreate) -> TenantOut:
    """A new tenant (409 when its slug is taken)."""
    tenant = await create_tenant(session, **body.model_dump())
    return TenantOut(**asdict(tenant))


async def add_key(session: AsyncSession, tenant_id: uuid.UUID, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new API key of the tenant, with its secret (shown in this answer only)."""
    row, new = await create_api_key(session, tenant_id=tenant_id, **body.model_dump())
    return ApiKeyCreated(**asdict(row), key=new.plaintext)


async def keys_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiKeyOut]:
    """The tenant's keys (prefixes only), oldest first."""
    return [ApiKeyOut(**asdict(row)) for row in await list_api_keys(session, tenant_id)]


async def revoke_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyOut:
    """The key, revoked."""
    return ApiKeyOut(**asdict(await revoke_api_key(session, tenant_id, key_id)))
