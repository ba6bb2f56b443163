"""Named platform-admin keys for tests: the name is what audits show as the actor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.admin_keys import create_admin_key
from aiaas.db import admin_session

__all__ = ["AdminKey", "create_test_admin_key"]


@dataclass(frozen=True)
class AdminKey:
    """A named platform-admin key made for tests: its name is what audits show as the actor."""

    name: str
    key: str
    key_id: uuid.UUID

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def create_test_admin_key(owner_sessions: async_sessionmaker[AsyncSession], name: str | None = None) -> AdminKey:
    """A fresh admin key (`name` defaults to a unique one); `owner_sessions` connect as the database owner."""
    async with admin_session(owner_sessions) as session:
        row, plaintext = await create_admin_key(
            session, name=name or f"test-admin-{uuid.uuid4().hex[:10]}", created_by="pytest"
        )
    return AdminKey(name=row.name, key=plaintext, key_id=row.id)
