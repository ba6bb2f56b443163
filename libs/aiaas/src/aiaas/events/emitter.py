"""Durable emission: an event is safe once JetStream acked it or the outbox row committed.

Hot paths call `emit_soon` and move on: queued events are published in batches (one flush at a time;
events emitted while a batch waits for its acks form the next one), and whatever JetStream did not ack
goes to the tenant's outbox. With `linger_s` the first event after a quiet spell waits that long for
company, so a trickle of requests shares one publish round trip instead of paying one each (like a
producer's linger.ms); a full `max_batch` goes at once. `drain` at shutdown cuts the linger short and waits
for every event still queued or in flight, so a graceful stop loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Literal

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events.envelope import EventEnvelope
from aiaas.events.outbox import write_outbox
from aiaas.events.publisher import NATS_UNAVAILABLE, EventPublisher, PendingEvent
from aiaas.events.wal import WriteAheadLog
from aiaas.observability.metrics import EVENTS_TO_OUTBOX

__all__ = ["DurableEmitter"]

log = logging.getLogger(__name__)

Destination = Literal["jetstream", "outbox"]
_Queued = tuple[PendingEvent, "asyncio.Future[Destination]"]


class DurableEmitter:
    """Publishes to JetStream and falls back to the tenant's outbox while NATS is unavailable."""

    def __init__(
        self,
        publisher: EventPublisher,
        sessions: async_sessionmaker[AsyncSession],
        *,
        is_connected: Callable[[], bool] = lambda: True,
        linger_s: float = 0.0,
        max_batch: int = 256,
        wal: WriteAheadLog | None = None,
    ) -> None:
        self._publisher = publisher
        self._sessions = sessions
        self._is_connected = is_connected
        self._linger_s = linger_s
        self._max_batch = max_batch
        # Events queued by emit_soon are written ahead here, so a killed process loses none of them.
        self._wal = wal
        self._queue: list[_Queued] = []
        self._flushing = 0
        self._flusher: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None

    async def emit(self, event: EventEnvelope) -> Destination:
        """Return only once the event is durable; says where it went."""
        if self._is_connected():
            try:
                await self._publisher.publish(event)
                return "jetstream"
            except NATS_UNAVAILABLE as exc:
                log.warning("publish failed, using outbox", extra={"error": repr(exc), "event_id": str(event.id)})
        async with tenant_session(self._sessions, event.tenant_id) as session:
            await write_outbox(session, event)
        EVENTS_TO_OUTBOX.labels(type=event.type).inc()
        return "outbox"

    def emit_soon(self, event: EventEnvelope) -> asyncio.Future[Destination]:
        """Start making `event` durable without waiting; tracked until done for `drain`.

        The returned future says where the event went; the publish span is a child of the current one.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Destination] = loop.create_future()
        payload = self._wal.append(event) if self._wal is not None else None
        self._queue.append((PendingEvent(event, otel_context.get_current(), payload), done))
        if self._flusher is None:
            if self._linger_s <= 0 or len(self._queue) >= self._max_batch:
                self._start_flush()
            elif self._linger is None:
                self._linger = loop.call_later(self._linger_s, self._start_flush)
        return done

    def _start_flush(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._flusher is None and self._queue:
            self._flusher = asyncio.create_task(self._flush_while_queued(), name="emit batches")

    async def _flush_while_queued(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                self._flushing = len(batch)
                await self._flush(batch)
        finally:
            self._flushing = 0
            self._flusher = None

    async def _flush(self, batch: list[_Queued]) -> None:
        pending = [item for item, _ in batch]
        if self._is_connected():
            errors = await self._publisher.publish_batch(pending)
        else:
            errors = [ConnectionError("NATS is not connected")] * len(batch)
        to_outbox: dict[uuid.UUID, list[_Queued]] = {}
        published: list[EventEnvelope] = []
        for (item, done), error in zip(batch, errors, strict=True):
            if error is None:
                done.set_result("jetstream")
                published.append(item.event)
            else:
                to_outbox.setdefault(item.event.tenant_id, []).append((item, done))
        if self._wal is not None:
            self._wal.done(published)
        if to_outbox:
            first_error = next(error for error in errors if error is not None)
            count = sum(len(items) for items in to_outbox.values())
            log.warning("publish failed, using outbox", extra={"error": repr(first_error), "events": count})
        for tenant_id, items in to_outbox.items():
            await self._to_outbox(tenant_id, items)

    async def _to_outbox(self, tenant_id: uuid.UUID, items: list[_Queued]) -> None:
        """One transaction for a tenant's events; each is durable once it commits."""
        try:
            async with tenant_session(self._sessions, tenant_id) as session:
                for item, _ in items:
                    await write_outbox(session, item.event)
        except Exception as exc:  # not hidden: logged per event, and each future carries it
            for item, done in items:
                log.error("event could not be made durable", exc_info=exc, extra={"event_id": str(item.event.id)})
                done.set_exception(exc)
                done.exception()  # retrieved here: nobody has to await an emit_soon
            return
        for item, done in items:
            EVENTS_TO_OUTBOX.labels(type=item.event.type).inc()
            done.set_result("outbox")
        if self._wal is not None:
            self._wal.done([item.event for item, _ in items])

    @property
    def in_flight(self) -> int:
        return len(self._queue) + self._flushing

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued and in-flight emission (graceful shutdown)."""
        self._start_flush()
        if self._flusher is not None:
            await asyncio.wait({self._flusher}, timeout=timeout_s)
