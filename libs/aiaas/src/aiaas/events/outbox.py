"""Transactional outbox: events stored with the business row, relayed to JetStream later.

`write_outbox` runs inside the caller's tenant transaction, so the event exists
exactly when the business change does. `OutboxRelay` (cross-tenant, so it runs
on the platform_admin engine) publishes pending rows with their event id as
`Nats-Msg-Id`; a relay that dies after publishing but before marking the row
republishes it and JetStream's duplicate window drops the copy.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from aiaas.events import repository
from aiaas.events.envelope import EventEnvelope
from aiaas.events.publisher import NATS_UNAVAILABLE, EventPublisher
from aiaas.observability.metrics import OUTBOX_PENDING

__all__ = ["write_outbox", "OutboxRelay"]

log = logging.getLogger(__name__)


async def write_outbox(session: AsyncSession, event: EventEnvelope, *, subject: str | None = None) -> None:
    """Store `event` in the caller's transaction (idempotent by event id)."""
    await repository.insert_row(
        session,
        tenant_id=event.tenant_id,
        event_id=event.id,
        subject=subject or event.subject,
        payload=event.to_json().decode(),
    )


class OutboxRelay:
    """Moves pending outbox rows to JetStream; safe to run in several processes (SKIP LOCKED)."""

    def __init__(
        self,
        admin_sessions: async_sessionmaker[AsyncSession],
        publisher: EventPublisher,
        *,
        batch_size: int = 500,
        idle_s: float = 0.5,
        keep_published_s: float = 24 * 3600,
        max_attempts: int = 10,
    ) -> None:
        self._sessions = admin_sessions
        self._publisher = publisher
        self._batch_size = batch_size
        self._idle_s = idle_s
        self._keep_published_s = keep_published_s
        self._max_attempts = max_attempts

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        async with admin_session(self._sessions) as session:
            rows = await repository.claim_pending(session, limit=self._batch_size, max_attempts=self._max_attempts)
            published: list[int] = []
            for row in rows:
                event = EventEnvelope.model_validate(orjson.loads(row.payload))
                try:
                    await self._publisher.publish(event, subject=row.subject)
                except (NoRespondersError, NoStreamResponseError):
                    if await self._publisher.has_stream_for(row.subject):
                        raise  # JetStream is still starting: leave the row for the next round
                    # No stream takes this subject: NATS is up, the row is the problem.
                    await repository.mark_failed(session, row.id, f"no stream for {row.subject}")
                    log.error("outbox row has no stream", extra={"subject": row.subject, "row": row.id})
                    continue
                published.append(row.id)
            if published:
                await repository.mark_published(session, published)
            pending = await repository.count_pending(session, max_attempts=self._max_attempts)
        OUTBOX_PENDING.set(max(pending - len(published), 0))
        return len(published)

    async def purge_published(self) -> None:
        async with admin_session(self._sessions) as session:
            await repository.purge_published(session, keep_s=self._keep_published_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; while NATS is down the rows wait (the claim rolls back)."""
        cycles = 0
        while not stop.is_set():
            try:
                published = await self.relay_once()
            except NATS_UNAVAILABLE as exc:
                log.warning("outbox relay: NATS unavailable", extra={"error": repr(exc)})
                published = 0
                await asyncio.sleep(self._idle_s)
            cycles += 1
            if cycles % 1000 == 0:
                await self.purge_published()
            if published < self._batch_size:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._idle_s)
                except TimeoutError:
                    continue
