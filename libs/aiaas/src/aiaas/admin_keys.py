"""Platform-admin keys: create, list, revoke (the repository of the CLI, `make dev` and the tests).

Runs on a session of the database owner (MIGRATION_DATABASE_URL): no service role may read or
write `admin_keys`. Services only resolve a bearer, through `aiaas.auth.AdminKeyResolver`. The
plaintext of a key exists once, in what `create_admin_key` returns; only its SHA-256 is stored.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.auth import generate_admin_key, hash_api_key
from aiaas.errors import BadRequest, NotFound

__all__ = [
    "AdminKeyRow",
    "NAME_PATTERN",
    "create_admin_key",
    "list_admin_keys",
    "revoke_admin_key",
    "reissue_admin_key",
    "find_admin_key",
]

# The same rule as the table's check: a name is an audit actor, so short, lowercase, no spaces.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,99}")
_COLS = "id, name, prefix, created_at, created_by, revoked_at"


@dataclass(frozen=True)
class AdminKeyRow:
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


async def create_admin_key(session: AsyncSession, *, name: str, created_by: str) -> tuple[AdminKeyRow, str]:
    """A new key named `name` (unique, also among revoked ones); returns the row and the plaintext."""
    if not NAME_PATTERN.fullmatch(name):
        raise BadRequest(
            f"Admin key name {name!r} must match {NAME_PATTERN.pattern} (it becomes the audit actor).",
            code="invalid_admin_key_name",
        )
    created_by = created_by.strip()[:200] or "unknown"
    new = generate_admin_key()
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    text(
                        f"insert into admin_keys (name, prefix, key_hash, created_by) "  # noqa: S608  # nosec B608 - column list is a module constant
                        f"values (:name, :prefix, :hash, :by) returning {_COLS}"
                    ),
                    {"name": name, "prefix": new.prefix, "hash": new.key_hash, "by": created_by},
                )
            ).one()
    except IntegrityError as exc:
        raise BadRequest(f"An admin key named {name!r} already exists.", code="admin_key_exists") from exc
    return AdminKeyRow(**row._mapping), new.plaintext


async def list_admin_keys(session: AsyncSession) -> list[AdminKeyRow]:
    """Every admin key, revoked ones included, oldest first."""
    rows = await session.execute(text(f"select {_COLS} from admin_keys order by created_at, name"))  # noqa: S608  # nosec B608 - column list is a module constant
    return [AdminKeyRow(**row._mapping) for row in rows]


async def revoke_admin_key(session: AsyncSession, name: str) -> AdminKeyRow:
    """Revoke the key named `name` (revoking twice keeps the first time); NotFound if there is none."""
    row = (
        await session.execute(
            text(
                f"update admin_keys set revoked_at = coalesce(revoked_at, now()) where name = :name returning {_COLS}"  # noqa: S608  # nosec B608 - column list is a module constant
            ),
            {"name": name},
        )
    ).first()
    if row is None:
        raise NotFound(f"No admin key named {name!r}.", code="admin_key_not_found")
    return AdminKeyRow(**row._mapping)


async def reissue_admin_key(session: AsyncSession, name: str) -> tuple[AdminKeyRow, str]:
    """A new secret for the existing key `name` (the old one stops working; a revoked key is active again)."""
    new = generate_admin_key()
    row = (
        await session.execute(
            text(
                f"update admin_keys set key_hash = :hash, prefix = :prefix, revoked_at = null "  # noqa: S608  # nosec B608 - column list is a module constant
                f"where name = :name returning {_COLS}"
            ),
            {"name": name, "hash": new.key_hash, "prefix": new.prefix},
        )
    ).first()
    if row is None:
        raise NotFound(f"No admin key named {name!r}.", code="admin_key_not_found")
    return AdminKeyRow(**row._mapping), new.plaintext


async def find_admin_key(session: AsyncSession, plaintext: str) -> AdminKeyRow | None:
    """The key whose secret is `plaintext` (revoked or not), or None."""
    row = (
        await session.execute(
            text(f"select {_COLS} from admin_keys where key_hash = :hash"),  # noqa: S608  # nosec B608 - column list is a module constant
            {"hash": hash_api_key(plaintext)},
        )
    ).first()
    return AdminKeyRow(**row._mapping) if row else None
