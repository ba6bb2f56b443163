"""Produces one reply: gateway stream -> seq-numbered events in Redis -> batched rows in Postgres.

A reply runs detached from the socket that asked for it, so it finishes (and is stored)
even when that client disconnects; any instance can then serve the rest through `resume`.
Every event goes to the Redis live log first and to Postgres afterwards, in batches of
`persist_batch_size` deltas or every `persist_interval_ms` (checked at each delta, and
always at the end), so Postgres never holds an event the live log did not have first.
Batches are written in the background, one at a time, so a slow Postgres does not hold
up the stream; the reply's last event waits for every batch before it is published.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from aiaas.tasks import stop_tasks
from realtime.conversations.gateway_client import GatewayClient, GatewayError
from realtime.conversations.live_log import LiveLog
from realtime.conversations.repository import EventStore
from realtime.metrics import RESPONSES

__all__ = ["ReplyJob", "Responder"]

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("realtime.responder")


@dataclass
class ReplyJob:
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    response_id: str
    api_key: str
    model: str
    messages: list[dict[str, str]]
    # The last seq this reply knows of (its user message's, then its own events'): the floor of its next
    # seq, so a counter lost with Redis restarts above events handed out but not yet persisted.
    last_seq: int = 0
    deltas: int = 0
    pending: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    finished: bool = False
    # The batch being written: at most one at a time, never awaited by the stream itself.
    writing: asyncio.Task[None] | None = None


class Responder:
    """Runs reply jobs as background tasks and drains them at shutdown."""

    def __init__(
        self,
        gateway: GatewayClient,
        live: LiveLog,
        store: EventStore,
        *,
        batch_size: int,
        interval_ms: float,
        inflight_ttl_s: int,
        max_inflight: int,
    ) -> None:
        self._gateway = gateway
        self._live = live
        self._store = store
        self._batch_size = batch_size
        self._interval_s = interval_ms / 1000
        self._refresh_s = inflight_ttl_s / 3
        self._max_inflight = max_inflight
        self._tasks: dict[asyncio.Task[None], ReplyJob] = {}

    @property
    def busy(self) -> bool:
        return len(self._tasks) >= self._max_inflight

    def start(self, job: ReplyJob) -> None:
        task = asyncio.create_task(self._run(job), name=f"reply-{job.response_id}")
        self._tasks[task] = job
        self._live.local.start(job.conversation_id)  # this process's followers take the events directly
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        job = self._tasks.pop(task, None)
        if job is not None:
            self._live.local.stop(job.conversation_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("reply task failed", exc_info=task.exception())

    async def drain(self, timeout_s: float) -> None:
        """Wait for streaming replies; those still running after `timeout_s` end as `response_interrupted`."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(list(self._tasks), timeout=timeout_s)
        await stop_tasks(*pending)

    async def _emit(self, job: ReplyJob, kind: str, data: dict[str, Any]) -> int:
        seq: int = await self._live.append(job.conversation_id, kind, data, floor=job.last_seq)
        job.last_seq = seq
        job.pending.append((seq, kind, data))
        return seq

    async def _flush(self, job: ReplyJob) -> None:
        """Write every pending event (after the batch already being written)."""
        if job.writing is not None:
            await job.writing
            job.writing = None
        batch, job.pending = job.pending, []
        await self._store.append(job.tenant_id, job.conversation_id, batch)

    def _flush_behind(self, job: ReplyJob) -> None:
        """Start writing the pending batch unless one is being written; the stream does not wait for it."""
        if job.writing is not None and not job.writing.done():
            return
        if job.writing is not None and (failed := job.writing.exception()) is not None:
            raise failed  # the previous batch was not stored: stop rather than stream what cannot be resumed
        batch, job.pending = job.pending, []
        job.writing = asyncio.create_task(self._store.append(job.tenant_id, job.conversation_id, batch))

    async def _finish(self, job: ReplyJob, kind: str, data: dict[str, Any]) -> None:
        """Persist everything, then publish the last event and free the conversation in one step."""
        seq = job.last_seq = await self._live.allocate(job.conversation_id, floor=job.last_seq)
        job.pending.append((seq, kind, data))
        await self._flush(job)
        await self._live.finish(job.conversation_id, seq, kind, data, job.response_id)
        job.finished = True

    async def _run(self, job: ReplyJob) -> None:
        """The reply as one span (a child of the socket's `ws receive message.create`): gateway call, deltas, end."""
        attributes = {
            "realtime.conversation_id": str(job.conversation_id),
            "realtime.response_id": job.response_id,
            "gen_ai.request.model": job.model,
        }
        with _tracer.start_as_current_span("realtime reply", attributes=attributes) as span:
            await self._produce(job, span)
            span.set_attribute("realtime.deltas", job.deltas)
            span.set_attribute("realtime.last_seq", job.last_seq)

    async def _produce(self, job: ReplyJob, span: trace.Span) -> None:
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        last_flush = last_refresh = time.monotonic()
        outcome = "completed"
        try:
            async for chunk in self._gateway.stream(job.api_key, job.model, job.messages):
                if chunk.delta:
                    parts.append(chunk.delta)
                    # `ts`: when this service got the text from the gateway (clients can measure delivery delay).
                    delta = {"response_id": job.response_id, "delta": chunk.delta, "ts": round(time.time(), 6)}
                    seq = await self._emit(job, "response.delta", delta)
                    if not job.deltas:
                        span.add_event("first delta", {"realtime.seq": seq})
                    job.deltas += 1
                if chunk.usage is not None:
                    usage = chunk.usage
                now = time.monotonic()
                if len(job.pending) >= self._batch_size or now - last_flush >= self._interval_s:
                    self._flush_behind(job)
                    last_flush = now
                if now - last_refresh >= self._refresh_s:
                    await self._live.refresh_inflight(job.conversation_id)
                    last_refresh = now
            await self._finish(
                job, "response.completed", {"response_id": job.response_id, "text": "".join(parts), "usage": usage}
            )
        except GatewayError as exc:
            outcome = "error"
            await self._finish(job, "error", _error(job, exc.code, exc.message, exc.status))
        except asyncio.CancelledError:
            outcome = "interrupted"
            await asyncio.shield(self._finish(job, "error", _error(job, "response_interrupted", _INTERRUPTED, 503)))
            raise
        finally:
            RESPONSES.labels(outcome=outcome).inc()
            if not job.finished:
                # An unexpected failure: keep what was streamed, and never leave the conversation locked.
                try:
                    await asyncio.shield(self._flush(job))
                finally:
                    await asyncio.shield(self._live.release_inflight(job.conversation_id))


_INTERRUPTED = "The service restarted before the reply finished; send the message again."


def _error(job: ReplyJob, code: str, message: str, status: int) -> dict[str, Any]:
    return {"response_id": job.response_id, "code": code, "message": message, "status": status}
