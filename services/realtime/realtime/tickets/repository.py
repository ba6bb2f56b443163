"""SQL of `realtime_tickets` (migration 0012): insert inside the tenant's transaction, consume and purge
through the SECURITY DEFINER functions (a ticket's tenant is unknown until it is consumed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

__all__ = ["ConsumedRow", "TicketRow", "TicketRepository"]

_DELETE_EXPIRED = text("delete from realtime_tickets where expires_at <= :now")
_INSERT = text(
    "insert into realtime_tickets (ticket_hash, tenant_id, api_key_id, sealed_key, created_at, expires_at) "
    "values (:ticket_hash, :tenant_id, :api_key_id, :sealed_key, :created_at, :expires_at)"
)
_CONSUME = text("select outcome, tenant_id, key_id, sealed_key from realtime_consume_ticket(:ticket_hash, :now)")
_PURGE = text("select realtime_purge_tickets(:now, :limit)")


@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket_hash: str
    tenant_id: uuid.UUID
    api_key_id: uuid.UUID
    sealed_key: bytes
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConsumedRow:
    """`realtime_consume_ticket`'s answer: `outcome` is "ok" or why the ticket was refused."""

    outcome: str
    tenant_id: uuid.UUID | None
    key_id: uuid.UUID | None
    sealed_key: bytes | None


class TicketRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, session: AsyncSession, row: TicketRow) -> None:
        """Store the ticket in the caller's tenant transaction; the tenant's expired tickets go in the same step."""
        await session.execute(_DELETE_EXPIRED, {"now": row.created_at})
        await session.execute(
            _INSERT,
            {
                "ticket_hash": row.ticket_hash,
                "tenant_id": row.tenant_id,
                "api_key_id": row.api_key_id,
                "sealed_key": row.sealed_key,
                "created_at": row.created_at,
                "expires_at": row.expires_at,
            },
        )

    async def consume(self, ticket_hash: str, now: datetime) -> ConsumedRow:
        """Mark the ticket used under a row lock (one socket per ticket, on any instance)."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(_CONSUME, {"ticket_hash": ticket_hash, "now": now})).one()
        sealed = bytes(row.sealed_key) if row.sealed_key is not None else None
        return ConsumedRow(str(row.outcome), row.tenant_id, row.key_id, sealed)

    async def purge(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` expired tickets of every tenant; how many went."""
        async with self._engine.begin() as conn:
            return int((await conn.execute(_PURGE, {"now": now, "limit": limit})).scalar_one())
