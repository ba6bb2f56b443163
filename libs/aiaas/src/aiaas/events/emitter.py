"""Durable emission: an event is safe once JetStream acked it or the outbox row committed.

Hot paths call `emit_soon` and move on; `drain` at shutdown waits for every
event still in flight, so a graceful stop loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events.envelope import EventEnvelope
from aiaas.events.outbox import write_outbox
from aiaas.events.publisher import NATS_UNAVAILABLE, EventPublisher
from aiaas.observability.metrics import EVENTS_TO_OUTBOX

__all__ = ["DurableEmitter"]

log = logging.getLogger(__name__)


class DurableEmitter:
    """Publishes to JetStream and falls back to the tenant's outbox while NATS is unavailable."""

    def __init__(
        self,
        publisher: EventPublisher,
        sessions: async_sessionmaker[AsyncSession],
        *,
        is_connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self._publisher = publisher
        self._sessions = sessions
        self._is_connected = is_connected
        self._in_flight: set[asyncio.Task[str]] = set()

    async def emit(self, event: EventEnvelope) -> Literal["jetstream", "outbox"]:
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

    def emit_soon(self, event: EventEnvelope) -> asyncio.Task[str]:
        """Start making `event` durable without waiting; tracked until done for `drain`."""
        task = asyncio.create_task(self.emit(event), name=f"emit {event.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[str]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event could not be made durable", exc_info=task.exception())

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for every in-flight emission (graceful shutdown)."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)
