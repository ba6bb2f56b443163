"""The SQL the test plugin runs itself: removing what its factories made once the session ends."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["delete_admin_keys", "delete_model_aliases"]


async def delete_admin_keys(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    await session.execute(text("delete from admin_keys where id = any(:ids)"), {"ids": list(ids)})


async def delete_model_aliases(session: AsyncSession, aliases: Sequence[str]) -> None:
    await session.execute(text("delete from model_registry where alias = any(:a)"), {"a": list(aliases)})
