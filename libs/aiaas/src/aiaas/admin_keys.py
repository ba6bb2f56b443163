"""Platform-admin keys: create, list, revoke (for the CLI, `make dev` and the tests; SQL in aiaas.repository).

Runs on a session of the database owner (MIGRATION_DATABASE_URL): no service role may read or
write `admin_keys`. Services only resolve a bearer, through `aiaas.auth.AdminKeyResolver`. The
plaintext of a key exists once, in what `create_admin_key` returns; only its SHA-256 is stored.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas import repository
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
            row = await repository.insert_admin_key(
                session, name=name, prefix=new.prefix, key_hash=new.key_hash, created_by=created_by
            )
    except IntegrityError as exc:
        raise BadRequest(f"An admin key named {name!r} already exists.", code="admin_key_exists") from exc
    return AdminKeyRow(**row), new.plaintext


async def list_admin_keys(session: AsyncSession) -> list[AdminKeyRow]:
    """Every admin key, revoked ones included, oldest first."""
    return [AdminKeyRow(**row) for row in await repository.list_admin_keys(session)]


async def revoke_admin_key(session: AsyncSession, name: str) -> AdminKeyRow:
    """Revoke the key named `name` (revoking twice keeps the first time); NotFound if there is none."""
    row = await repository.revoke_admin_key(session, name)
    if row is None:
        raise NotFound(f"No admin key named {name!r}.", code="admin_key_not_found")
    return AdminKeyRow(**row)


async def reissue_admin_key(session: AsyncSession, name: str) -> tuple[AdminKeyRow, str]:
    """A new secret for the existing key `name` (the old one stops working; a revoked key is active again)."""
    new = generate_admin_key()
    row = await repository.reissue_admin_key(session, name=name, prefix=new.prefix, key_hash=new.key_hash)
    if row is None:
        raise NotFound(f"No admin key named {name!r}.", code="admin_key_not_found")
    return AdminKeyRow(**row), new.plaintext


async def find_admin_key(session: AsyncSession, plaintext: str) -> AdminKeyRow | None:
    """The key whose secret is `plaintext` (revoked or not), or None."""
    row = await repository.admin_key_by_hash(session, hash_api_key(plaintext))
    return AdminKeyRow(**row) if row else None
