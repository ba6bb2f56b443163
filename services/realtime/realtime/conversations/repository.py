"""SQL of conversations and their event log (`rt_conversations`, `rt_events`), always in the tenant's RLS context."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from realtime.conversations.claims import Claim, LatestReply, Refused, refusal
from realtime.conversations.schemas import LoggedEvent

__all__ = ["EventStore"]

_CREATE = text("insert into rt_conversations (id, tenant_id) values (:id, :tenant_id)")
_EXISTS = text("select 1 from rt_conversations where id = :id")
_MAX_SEQ = text("select coalesce(max(seq), 0) from rt_events where conversation_id = :id")
_INSERT = text(
    "insert into rt_events (conversation_id, seq, tenant_id, type, payload) "
    "values (:conversation_id, :seq, :tenant_id, :type, cast(:payload as jsonb)) "
    "on conflict (conversation_id, seq) do nothing"
)
_AFTER = text(
    "select seq, type, payload from rt_events where conversation_id = :id and seq > :after and seq < :before "
    "order by seq limit :limit"
)
# Creates of one conversation are serialized by this lock, not by Redis (which may have lost its marker).
_LOCK = text("select pg_advisory_xact_lock(hashtextextended(cast(cast(:id as uuid) as text), 7))")
# Per earlier message with this client_msg_id: did its reply complete, fail, and how long since its last event.
_CLAIMS = text(
    "select bool_or(e.type = 'response.completed') as completed, bool_or(e.type = 'error') as failed, "
    "extract(epoch from clock_timestamp() - max(e.created_at)) as idle_s "
    "from rt_events m join rt_events e on e.conversation_id = m.conversation_id "
    "and e.payload->>'response_id' = m.payload->>'response_id' "
    "where m.conversation_id = :id and m.type = 'message.created' and m.payload->>'client_msg_id' = :cmsg "
    "group by m.payload->>'response_id'"
)
# The conversation's latest user message: has its reply ended, and how long since its last event.
_LATEST_REPLY = text(
    "with last as (select seq, payload->>'response_id' as rid from rt_events "
    "where conversation_id = :id and type = 'message.created' order by seq desc limit 1) "
    "select bool_or(e.type in ('response.completed', 'error')) as finished, "
    "extract(epoch from clock_timestamp() - max(e.created_at)) as idle_s "
    "from last join rt_events e on e.conversation_id = :id and e.seq >= last.seq "
    "and e.payload->>'response_id' = last.rid"
)
_DISCARD = text("delete from rt_events where conversation_id = :id and seq = :seq")
_HISTORY = text(
    "select type, payload from rt_events where conversation_id = :id "
    "and type in ('message.created', 'response.completed') order by seq"
)


class EventStore:
    """Repository of `rt_conversations` and `rt_events` (RLS: a tenant sees only its own rows)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create_conversation(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
        async with tenant_session(self._sessions, tenant_id) as session:
            await session.execute(_CREATE, {"id": conversation_id, "tenant_id": tenant_id})

    async def owned_max_seq(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> int | None:
        """The last persisted seq of the tenant's conversation, or None when the tenant has no such one."""
        async with tenant_session(self._sessions, tenant_id) as session:
            if (await session.execute(_EXISTS, {"id": conversation_id})).first() is None:
                return None
            return int((await session.execute(_MAX_SEQ, {"id": conversation_id})).scalar_one())

    async def append(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, events: Sequence[tuple[int, str, dict[str, Any]]]
    ) -> None:
        """Persist `(seq, type, data)` events; a seq already stored is skipped (idempotent)."""
        if not events:
            return
        rows = [
            {
                "conversation_id": conversation_id,
                "seq": seq,
                "tenant_id": tenant_id,
                "type": kind,
                "payload": orjson.dumps(data).decode(),
            }
            for seq, kind, data in events
        ]
        async with tenant_session(self._sessions, tenant_id) as session:
            await session.execute(_INSERT, rows)

    async def accept_message(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        data: dict[str, Any],
        allocate: Callable[[int], Awaitable[int]],
        *,
        live_s: float,
    ) -> int | Refused:
        """Store a user message (`message.created`) unless `claims.refusal` refuses it; its seq, or why not.

        `allocate(floor)` hands out the seq (above the stored `max(seq)`) inside the conversation's lock.
        """
        async with tenant_session(self._sessions, tenant_id) as session:
            await session.execute(_LOCK, {"id": conversation_id})
            rows = (await session.execute(_CLAIMS, {"id": conversation_id, "cmsg": data["client_msg_id"]})).all()
            claims = [Claim(bool(row.completed), bool(row.failed), float(row.idle_s)) for row in rows]
            last = (await session.execute(_LATEST_REPLY, {"id": conversation_id})).one()
            latest = LatestReply(last.finished, None if last.idle_s is None else float(last.idle_s))
            refused = refusal(claims, latest, live_s=live_s)
            if refused is not None:
                return refused
            floor = int((await session.execute(_MAX_SEQ, {"id": conversation_id})).scalar_one())
            seq = await allocate(floor)
            row = {
                "conversation_id": conversation_id,
                "seq": seq,
                "tenant_id": tenant_id,
                "type": "message.created",
                "payload": orjson.dumps(data).decode(),
            }
            await session.execute(_INSERT, row)
        return seq

    async def discard(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, seq: int) -> None:
        """Delete a stored event that was never published (its publishing failed), so it can be sent again."""
        async with tenant_session(self._sessions, tenant_id) as session:
            await session.execute(_DISCARD, {"id": conversation_id, "seq": seq})

    async def events_between(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, after: int, before: int | None = None, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Persisted events with `after < seq < before`, in order, at most `limit`."""
        params = {"id": conversation_id, "after": after, "before": before or 2**62, "limit": limit}
        async with tenant_session(self._sessions, tenant_id) as session:
            rows = (await session.execute(_AFTER, params)).all()
        return [LoggedEvent(int(row.seq), str(row.type), dict(row.payload)) for row in rows]

    async def history(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> list[dict[str, str]]:
        """Chat messages so far: each user message with its reply; messages whose reply failed are left out."""
        async with tenant_session(self._sessions, tenant_id) as session:
            rows = (await session.execute(_HISTORY, {"id": conversation_id})).all()
        replies = {row.payload["response_id"]: row.payload["text"] for row in rows if row.type == "response.completed"}
        messages: list[dict[str, str]] = []
        for row in rows:
            if row.type == "message.created" and row.payload["response_id"] in replies:
                messages.append({"role": "user", "content": row.payload["content"]})
                messages.append({"role": "assistant", "content": replies[row.payload["response_id"]]})
        return messages
