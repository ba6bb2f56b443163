"""Durable emission: an event is safe once JetStream acked it or the outbox row committed.

Hot paths call `emit_soon` and move on: queued events are published in batches by an `aiaas.batcher.Batcher`
(one flush at a time; events emitted while a batch waits for its acks form the next one), and whatever JetStream
did not ack goes to the tenant's outbox. With `linger_s` the first event after a quiet spell waits that long for
company, so a trickle of requests shares one publish round trip instead of paying one each (like a producer's
linger.ms); a full `max_batch` goes at once. `drain` at shutdown cuts the linger short and waits for every event
still queued or in flight, so a graceful stop loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.batcher import Batcher
from aiaas.db import tenant_session
from aiaas.events.envelope import EventEnvelope
from aiaas.events.outbox import write_outbox
from aiaas.events.publisher import NATS_UNAVAILABLE, EventPublisher, PendingEvent
from aiaas.events.wal import WriteAheadLog
from aiaas.observability.metrics import EVENTS_TO_OUTBOX

__all__ = ["DurableEmitter"]

log = logging.getLogger(__name__)

Destination = Literal["jetstream", "outbox"]


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
        # Events queued by emit_soon are written ahead here, so a killed process loses none of them.
        self._wal = wal
        self._batches: Batcher[PendingEvent, Destination] = Batcher(
            self._publish_batch, linger_s=linger_s, max_size=max_batch, name="emit batches"
        )

    @classmethod
    async def written_ahead(
        cls,
        publisher: EventPublisher,
        sessions: async_sessionmaker[AsyncSession],
        *,
        wal_dir: str,
        wal_name: str,
        is_connected: Callable[[], bool],
        linger_s: float,
    ) -> DurableEmitter:
        """A hot path's emitter: writes ahead to `wal_dir` ("" = no WAL) and first re-emits what a killed
        process answered for but never made durable, so call it before serving."""
        wal = WriteAheadLog(Path(wal_dir), wal_name) if wal_dir else None
        emitter = cls(publisher, sessions, is_connected=is_connected, linger_s=linger_s, wal=wal)
        if wal is not None:
            await wal.recover(emitter)
        return emitter

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
        payload = self._wal.append(event) if self._wal is not None else None
        return self._batches.submit_nowait(PendingEvent(event, otel_context.get_current(), payload))

    async def _publish_batch(self, batch: list[PendingEvent]) -> list[Destination | Exception]:
        """Publish the batch; what JetStream did not ack goes to its tenant's outbox. Per event where it went."""
        if self._is_connected():
            errors = await self._publisher.publish_batch(batch)
        else:
            errors = [ConnectionError("NATS is not connected")] * len(batch)
        outcomes: list[Destination | Exception] = ["jetstream"] * len(batch)
        published: list[EventEnvelope] = []
        to_outbox: dict[uuid.UUID, list[int]] = {}
        for i, (item, error) in enumerate(zip(batch, errors, strict=True)):
            if error is None:
                published.append(item.event)
            else:
                to_outbox.setdefault(item.event.tenant_id, []).append(i)
        if self._wal is not None:
            self._wal.done(published)
        if to_outbox:
            first_error = next(error for error in errors if error is not None)
            count = sum(len(indexes) for indexes in to_outbox.values())
            log.warning("publish failed, using outbox", extra={"error": repr(first_error), "events": count})
        for tenant_id, indexes in to_outbox.items():
            outcome = await self._to_outbox(tenant_id, [batch[i].event for i in indexes])
            for i in indexes:
                outcomes[i] = outcome
        return outcomes

    async def _to_outbox(self, tenant_id: uuid.UUID, events: list[EventEnvelope]) -> Destination | Exception:
        """One transaction for a tenant's events; each is durable once it commits."""
        try:
            async with tenant_session(self._sessions, tenant_id) as session:
                for event in events:
                    await write_outbox(session, event)
        except Exception as exc:  # not hidden: logged per event, and each emit_soon future carries it
            for event in events:
                log.error("event could not be made durable", exc_info=exc, extra={"event_id": str(event.id)})
            return exc
        for event in events:
            EVENTS_TO_OUTBOX.labels(type=event.type).inc()
        if self._wal is not None:
            self._wal.done(events)
        return "outbox"

    @property
    def in_flight(self) -> int:
        return self._batches.pending

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued and in-flight emission (graceful shutdown)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._batches.flush()

    async def close(self) -> None:
        """Drain, then close the write-ahead log (removed when nothing is left in flight, else kept to replay)."""
        await self.drain()
        if self._wal is not None:
            self._wal.close(remove=self.in_flight == 0)
