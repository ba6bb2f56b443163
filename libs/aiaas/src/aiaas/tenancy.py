"""Tenants and API keys: the one repository used by the admin API and the seed command.

All SQL here runs on a session the caller opened: a platform_admin session for
cross-tenant administration, or a tenant session for a tenant's own keys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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


_TENANT_COLS = "id, name, slug, status, rate_limit_rpm, rate_limit_tpm, created_at"
_KEY_COLS = "id, tenant_id, name, prefix, scopes, rpm_limit, tpm_limit, created_at, revoked_at"


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
            row = (
                await session.execute(
                    text(
                        f"insert into tenants (name, slug, rate_limit_rpm, rate_limit_tpm) "  # noqa: S608  # nosec B608 - column lists are module constants
                        f"values (:name, :slug, :rpm, :tpm) returning {_TENANT_COLS}"
                    ),
                    {"name": name, "slug": slug, "rpm": rate_limit_rpm, "tpm": rate_limit_tpm},
                )
            ).one()
    except IntegrityError as exc:
        raise BadRequest(f"A tenant with slug '{slug}' already exists.", code="tenant_exists") from exc
    return TenantRow(**row._mapping)


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> TenantRow | None:
    row = (
        await session.execute(text(f"select {_TENANT_COLS} from tenants where slug = :slug"), {"slug": slug})  # noqa: S608  # nosec B608 - column lists are module constants
    ).first()
    return TenantRow(**row._mapping) if row else None


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
    exists = (await session.execute(text("select 1 from tenants where id = :id"), {"id": tenant_id})).first()
    if exists is None:
        raise NotFound(f"Tenant {tenant_id} not found.", code="tenant_not_found")
    row = (
        await session.execute(
            text(
                f"insert into api_keys (tenant_id, name, prefix, key_hash, scopes, rpm_limit, tpm_limit) "  # noqa: S608  # nosec B608 - column lists are module constants
                f"values (:tenant_id, :name, :prefix, :key_hash, :scopes, :rpm, :tpm) returning {_KEY_COLS}"
            ),
            {
                "tenant_id": tenant_id,
                "name": name,
                "prefix": new.prefix,
                "key_hash": new.key_hash,
                "scopes": scopes,
                "rpm": rpm_limit,
                "tpm": tpm_limit,
            },
        )
    ).one()
    return ApiKeyRow(**row._mapping), new


async def list_api_keys(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiKeyRow]:
    rows = await session.execute(
        text(f"select {_KEY_COLS} from api_keys where tenant_id = :tid order by created_at"),  # noqa: S608  # nosec B608 - column lists are module constants
        {"tid": tenant_id},
    )
    return [ApiKeyRow(**row._mapping) for row in rows]


async def revoke_api_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyRow:
    row = (
        await session.execute(
            text(
                f"update api_keys set revoked_at = coalesce(revoked_at, now()) "  # noqa: S608  # nosec B608 - column lists are module constants
                f"where id = :kid and tenant_id = :tid returning {_KEY_COLS}"
            ),
            {"kid": key_id, "tid": tenant_id},
        )
    ).first()
    if row is None:
        raise NotFound(f"API key {key_id} not found for tenant {tenant_id}.", code="api_key_not_found")
    return ApiKeyRow(**row._mapping)
