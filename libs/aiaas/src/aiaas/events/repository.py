"""The outbox table's SQL: rows written in a tenant's transaction, claimed and marked by the relay."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "OutboxRow",
    "claim_pending",
    "count_pending",
    "insert_row",
    "mark_failed",
    "mark_published",
    "purge_published",
]

_INSERT = text(
    "insert into event_outbox (tenant_id, event_id, subject, payload) "
    "values (:tenant_id, :event_id, :subject, cast(:payload as jsonb)) "
    "on conflict (event_id) do nothing"
)
_CLAIM = text(
    "select id, subject, payload::text as payload from event_outbox "
    "where published_at is null and attempts < :max_attempts order by id limit :limit for update skip locked"
)
_MARK = text("update event_outbox set published_at = now() where id = any(:ids)")
_FAILED = text("update event_outbox set attempts = attempts + 1, last_error = :error where id = :id")
_PENDING = text("select count(*) from event_outbox where published_at is null and attempts < :max_attempts")
_PURGE = text("delete from event_outbox where published_at < now() - make_interval(secs => :keep_s)")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    subject: str
    payload: str  # the event envelope's JSON


async def insert_row(
    session: AsyncSession, *, tenant_id: uuid.UUID, event_id: uuid.UUID, subject: str, payload: str
) -> None:
    """One pending row (nothing when the event id is already stored)."""
    await session.execute(
        _INSERT, {"tenant_id": tenant_id, "event_id": event_id, "subject": subject, "payload": payload}
    )


async def claim_pending(session: AsyncSession, *, limit: int, max_attempts: int) -> list[OutboxRow]:
    """Up to `limit` pending rows, oldest first, locked for this transaction (others skip them)."""
    rows = await session.execute(_CLAIM, {"limit": limit, "max_attempts": max_attempts})
    return [OutboxRow(id=row.id, subject=row.subject, payload=row.payload) for row in rows]


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> None:
    await session.execute(_MARK, {"ids": list(ids)})


async def mark_failed(session: AsyncSession, row_id: int, error: str) -> None:
    await session.execute(_FAILED, {"id": row_id, "error": error})


async def count_pending(session: AsyncSession, *, max_attempts: int) -> int:
    return int((await session.execute(_PENDING, {"max_attempts": max_attempts})).scalar_one())


async def purge_published(session: AsyncSession, *, keep_s: float) -> None:
    """Delete rows published more than `keep_s` seconds ago."""
    await session.execute(_PURGE, {"keep_s": keep_s})
