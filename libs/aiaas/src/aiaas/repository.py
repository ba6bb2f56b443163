"""The shared tables' SQL: tenants, API keys, admin keys, the key lookups, the tenant binding, the probe.

Each function runs on the session (or connection) its caller opened and returns plain rows; the callers
(`aiaas.tenancy`, `aiaas.admin_keys`, `aiaas.auth`, `aiaas.db`, `aiaas.health`) turn them into their row
types and errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = [
    "admin_key_by_hash",
    "api_keys_of",
    "bind_tenant",
    "insert_admin_key",
    "insert_api_key",
    "insert_tenant",
    "list_admin_keys",
    "lookup_active_admin_key",
    "lookup_api_key",
    "ping",
    "reissue_admin_key",
    "revoke_admin_key",
    "revoke_api_key",
    "tenant_by_slug",
    "tenant_exists",
    "tenant_standing",
]

_TENANT_COLS = "id, name, slug, status, rate_limit_rpm, rate_limit_tpm, created_at"
_KEY_COLS = "id, tenant_id, name, prefix, scopes, rpm_limit, tpm_limit, created_at, revoked_at"
_ADMIN_COLS = "id, name, prefix, created_at, created_by, revoked_at"

_SET_TENANT = text("select set_config('app.tenant_id', :tid, true)")
_LOOKUP = text(
    "select key_id, tenant_id, scopes, key_rpm, key_tpm, tenant_rpm, tenant_tpm, active "
    "from auth_lookup_api_key(:key_hash)"
)
_ADMIN_LOOKUP = text("select key_id, name, active from auth_lookup_admin_key(:key_hash)")


# ---- the tenant binding, the probe, the key lookups ---------------------------------------------
async def bind_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Bind the open transaction to `tenant_id` (transaction-local: a pooled connection forgets it)."""
    await session.execute(_SET_TENANT, {"tid": tenant_id})


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(text("select 1"))


async def lookup_api_key(conn: AsyncConnection, key_hash: str) -> Row[tuple[object, ...]] | None:
    """The key and its tenant's limits (`active` false when revoked or suspended), or None."""
    return (await conn.execute(_LOOKUP, {"key_hash": key_hash})).first()


async def lookup_active_admin_key(conn: AsyncConnection, key_hash: str) -> Row[tuple[object, ...]] | None:
    """The admin key (`key_id`, `name`, `active`), or None."""
    return (await conn.execute(_ADMIN_LOOKUP, {"key_hash": key_hash})).first()


# ---- tenants and their API keys ------------------------------------------------------------------
async def insert_tenant(
    session: AsyncSession, *, name: str, slug: str, rate_limit_rpm: int | None, rate_limit_tpm: int | None
) -> RowMapping:
    row = (
        await session.execute(
            text(
                f"insert into tenants (name, slug, rate_limit_rpm, rate_limit_tpm) "  # noqa: S608  # nosec B608 - column lists are module constants
                f"values (:name, :slug, :rpm, :tpm) returning {_TENANT_COLS}"
            ),
            {"name": name, "slug": slug, "rpm": rate_limit_rpm, "tpm": rate_limit_tpm},
        )
    ).one()
    return row._mapping


async def tenant_by_slug(session: AsyncSession, slug: str) -> RowMapping | None:
    row = (
        await session.execute(text(f"select {_TENANT_COLS} from tenants where slug = :slug"), {"slug": slug})  # noqa: S608  # nosec B608 - column lists are module constants
    ).first()
    return row._mapping if row else None


async def tenant_exists(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    return (await session.execute(text("select 1 from tenants where id = :id"), {"id": tenant_id})).first() is not None


async def tenant_standing(session: AsyncSession, tenant_id: uuid.UUID) -> Row[tuple[object, ...]] | None:
    """The tenant's status and rate limits (`status`, `rate_limit_rpm`, `rate_limit_tpm`), or None."""
    return (
        await session.execute(
            text("select status, rate_limit_rpm, rate_limit_tpm from tenants where id = :id"), {"id": tenant_id}
        )
    ).first()


async def insert_api_key(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    name: str,
    prefix: str,
    key_hash: str,
    scopes: Sequence[str],
    rpm_limit: int | None,
    tpm_limit: int | None,
) -> RowMapping:
    row = (
        await session.execute(
            text(
                f"insert into api_keys (tenant_id, name, prefix, key_hash, scopes, rpm_limit, tpm_limit) "  # noqa: S608  # nosec B608 - column lists are module constants
                f"values (:tenant_id, :name, :prefix, :key_hash, :scopes, :rpm, :tpm) returning {_KEY_COLS}"
            ),
            {
                "tenant_id": tenant_id,
                "name": name,
                "prefix": prefix,
                "key_hash": key_hash,
                "scopes": list(scopes),
                "rpm": rpm_limit,
                "tpm": tpm_limit,
            },
        )
    ).one()
    return row._mapping


async def api_keys_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[RowMapping]:
    rows = await session.execute(
        text(f"select {_KEY_COLS} from api_keys where tenant_id = :tid order by created_at"),  # noqa: S608  # nosec B608 - column lists are module constants
        {"tid": tenant_id},
    )
    return [row._mapping for row in rows]


async def revoke_api_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> RowMapping | None:
    """Revoke the tenant's key (revoking twice keeps the first time); None when the tenant has no such key."""
    row = (
        await session.execute(
            text(
                f"update api_keys set revoked_at = coalesce(revoked_at, now()) "  # noqa: S608  # nosec B608 - column lists are module constants
                f"where id = :kid and tenant_id = :tid returning {_KEY_COLS}"
            ),
            {"kid": key_id, "tid": tenant_id},
        )
    ).first()
    return row._mapping if row else None


# ---- platform-admin keys (the database owner's session) -----------------------------------------
async def insert_admin_key(
    session: AsyncSession, *, name: str, prefix: str, key_hash: str, created_by: str
) -> RowMapping:
    row = (
        await session.execute(
            text(
                f"insert into admin_keys (name, prefix, key_hash, created_by) "  # noqa: S608  # nosec B608 - column list is a module constant
                f"values (:name, :prefix, :hash, :by) returning {_ADMIN_COLS}"
            ),
            {"name": name, "prefix": prefix, "hash": key_hash, "by": created_by},
        )
    ).one()
    return row._mapping


async def list_admin_keys(session: AsyncSession) -> list[RowMapping]:
    rows = await session.execute(text(f"select {_ADMIN_COLS} from admin_keys order by created_at, name"))  # noqa: S608  # nosec B608 - column list is a module constant
    return [row._mapping for row in rows]


async def revoke_admin_key(session: AsyncSession, name: str) -> RowMapping | None:
    row = (
        await session.execute(
            text(
                f"update admin_keys set revoked_at = coalesce(revoked_at, now()) "  # noqa: S608  # nosec B608 - column list is a module constant
                f"where name = :name returning {_ADMIN_COLS}"
            ),
            {"name": name},
        )
    ).first()
    return row._mapping if row else None


async def reissue_admin_key(session: AsyncSession, *, name: str, prefix: str, key_hash: str) -> RowMapping | None:
    row = (
        await session.execute(
            text(
                f"update admin_keys set key_hash = :hash, prefix = :prefix, revoked_at = null "  # noqa: S608  # nosec B608 - column list is a module constant
                f"where name = :name returning {_ADMIN_COLS}"
            ),
            {"name": name, "hash": key_hash, "prefix": prefix},
        )
    ).first()
    return row._mapping if row else None


async def admin_key_by_hash(session: AsyncSession, key_hash: str) -> RowMapping | None:
    row = (
        await session.execute(
            text(f"select {_ADMIN_COLS} from admin_keys where key_hash = :hash"),  # noqa: S608  # nosec B608 - column list is a module constant
            {"hash": key_hash},
        )
    ).first()
    return row._mapping if row else None
