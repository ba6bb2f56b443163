"""Tenants and API keys: the one service used by the admin API and the seed command (SQL in aiaas.repository).

Everything here runs on a session the caller opened: a platform_admin session for
cross-tenant administration, or a tenant session for a tenant's own keys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas import repository
from aiaas.auth import NewApiKey, generate_api_key
from aiaas.errors import BadRequest, NotFound
from aiaas.scopes import check_scopes

__all__ = [
    "TenantRow",
    "ApiKeyRow",
    "create_tenant",
    "get_tenant_by_slug",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
]


@dataclass(frozen=True)
class TenantRow:
    id: uuid.UUID
    name: str
    slug: str
    status: str
    rate_limit_rpm: int | None
    rate_limit_tpm: int | None
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    rpm_limit: int | None
    tpm_limit: int | None
    created_at: datetime
    revoked_at: datetime | None


async def create_tenant(
    session: AsyncSession,
    *,
    name: str,
    slug: str,
    rate_limit_rpm: int | None = None,
    rate_limit_tpm: int | None = None,
) -> TenantRow:
    try:
        async with session.begin_nested():
            row = await repository.insert_tenant(
                session, name=name, slug=slug, rate_limit_rpm=rate_limit_rpm, rate_limit_tpm=rate_limit_tpm
            )
    except IntegrityError as exc:
        raise BadRequest(f"A tenant with slug '{slug}' already exists.", code="tenant_exists") from exc
    return TenantRow(**row)


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> TenantRow | None:
    row = await repository.tenant_by_slug(session, slug)
    return TenantRow(**row) if row else None


async def create_api_key(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    name: str,
    scopes: list[str],
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
) -> tuple[ApiKeyRow, NewApiKey]:
    """Create a key; the plaintext exists only in the returned `NewApiKey`. Unknown scopes: 422."""
    scopes = check_scopes(scopes)
    new = generate_api_key()
    if not await repository.tenant_exists(session, tenant_id):
        raise NotFound(f"Tenant {tenant_id} not found.", code="tenant_not_found")
    row = await repository.insert_api_key(
        session,
        tenant_id=tenant_id,
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        scopes=scopes,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
    )
    return ApiKeyRow(**row), new


async def list_api_keys(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiKeyRow]:
    return [ApiKeyRow(**row) for row in await repository.api_keys_of(session, tenant_id)]


async def revoke_api_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyRow:
    row = await repository.revoke_api_key(session, tenant_id, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found for tenant {tenant_id}.", code="api_key_not_found")
    return ApiKeyRow(**row)
