"""The episode record (`orch_steps`) and what the ledger's events share: the run a call belongs to, step rows,
model calls recorded once per step, events written in the business transaction and published after it.

A model call (`EpisodeRecord.llm`) appends one `orch_steps` row (kind llm) with its request and sha256, answer,
latency, tokens and cost; a step key that has one answers from it, so a re-executed node never calls the model twice
for one step (and the gateway's `requests` rows stay one per step). A failed call is recorded too (status error),
and answers as failed again.

Events are written to the outbox in the caller's transaction and, when a publisher is given, published right after
commit (same ids: JetStream drops the outbox relay's copy). Inside `deferred_events()` (the worker, around one
delivery) they are collected in commit order instead, and the worker publishes them in one batch with the run's own
event once the delivery is done: no publish round trip between a run's steps, and the outbox relay still publishes
each one if that batch never happens (a crash, NATS down).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.outbox import write_outbox
from aiaas.events.publisher import NATS_UNAVAILABLE, EventPublisher
from orchestrator.ledger import repository
from orchestrator.ledger.keys import sha256_of
from orchestrator.llm import LLMCallError, LLMReply

__all__ = ["STEP_LATENCY", "EpisodeRecord", "LLMStepFailed", "Outbound", "RunRef", "deferred_events", "write_events"]

log = logging.getLogger(__name__)

STEP_LATENCY = Histogram(
    "orch_steps_latency_seconds",
    "Latency of a run's recorded steps (model calls, tool calls, compensations)",
    ["agent", "kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# An event and the subject it goes to (None: its own `<type>.<tenant>`).
Outbound = tuple[EventEnvelope, str | None]

# The events committed by the ledger in this context and not published yet (None: publish each at once).
_DEFERRED: ContextVar[list[Outbound] | None] = ContextVar("orch_deferred_events", default=None)


@contextmanager
def deferred_events() -> Iterator[list[Outbound]]:
    """Collect the ledger's committed events (in commit order) instead of publishing them; the caller publishes
    the list. The graph's node tasks inherit the context, so every step of the run adds to the same list."""
    events: list[Outbound] = []
    token = _DEFERRED.set(events)
    try:
        yield events
    finally:
        _DEFERRED.reset(token)


@dataclass(frozen=True)
class RunRef:
    """Which run a call belongs to (the agent names the metrics' series)."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    agent: str


class LLMStepFailed(Exception):
    """A model call recorded as failed (now, or by an earlier execution of the same step)."""

    def __init__(self, step_key: str, code: str, message: str) -> None:
        super().__init__(f"{step_key}: {code}: {message}")
        self.step_key = step_key
        self.code = code
        self.message = message


class EpisodeRecord:
    """Step rows of runs under their tenant (RLS), and the events that go with them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        publisher: EventPublisher | None = None,
        record_bodies: bool = True,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._publisher = publisher
        # Off only in the recording-cost benchmark's baseline: step rows without the model's full reply and the
        # tool results (the ledger's `tool_calls` keeps those it needs either way).
        self.record_bodies = record_bodies

    async def llm(
        self,
        run: RunRef,
        *,
        node: str,
        step_key: str,
        request: dict[str, Any],
        call: Callable[[], Awaitable[LLMReply]],
        look_up: bool = True,
    ) -> dict[str, Any]:
        """The step's model answer `{text, model, request_id, tokens_in, tokens_out}`: recorded, or called now.

        `look_up=False`: the caller knows the run has no step recorded yet (its first execution), so the call is
        made without reading the record first.
        """
        done = None
        if look_up:
            async with tenant_session(self._sessions, run.tenant_id) as session:
                done = await repository.find_step(session, run.tenant_id, run.run_id, step_key)
        if done is not None:
            response = done.response if isinstance(done.response, dict) else {}
            if done.status != "ok":
                raise LLMStepFailed(step_key, str(response.get("code", "llm_failed")), str(response.get("message")))
            return {**response, "tokens_in": done.tokens_in, "tokens_out": done.tokens_out}
        try:
            reply = await call()
        except LLMCallError as exc:
            error = {"code": exc.code, "message": exc.message, "status": exc.status}
            async with tenant_session(self._sessions, run.tenant_id) as session:
                await self.insert_step(
                    session, run, step_key, node, "llm", request, error, "error", "fatal", 1, exc.latency_ms
                )
            STEP_LATENCY.labels(agent=run.agent, kind="llm").observe(exc.latency_ms / 1000)
            raise LLMStepFailed(step_key, exc.code, exc.message) from None
        record = reply.as_record(bodies=self.record_bodies)
        async with tenant_session(self._sessions, run.tenant_id) as session:
            await self.insert_step(
                session, run, step_key, node, "llm", request, record, "ok", None, 1, reply.latency_ms,
                tokens_in=reply.tokens_in, tokens_out=reply.tokens_out, cost_usd=reply.cost_usd,
            )  # fmt: skip
        STEP_LATENCY.labels(agent=run.agent, kind="llm").observe(reply.latency_ms / 1000)
        return {**record, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out}

    async def record(
        self, run: RunRef, *, step_key: str, node: str, kind: str, request: dict[str, Any], response: Any = None
    ) -> None:
        """An interrupt or a resume in the episode record (once per step key)."""
        async with tenant_session(self._sessions, run.tenant_id) as session:
            await self.insert_step(session, run, step_key, node, kind, request, response, "ok", None, 1, 0.0)

    async def clock_reading(
        self, run: RunRef, *, node: str, step_key: str, read: Callable[[], datetime], look_up: bool = True
    ) -> datetime:
        """A node's reading of business time: the recorded one when the step has it (a re-executed node reads the
        same time), else `read()` now, recorded (kind clock, `{"at": iso}`) before the node uses it."""
        if look_up:
            async with tenant_session(self._sessions, run.tenant_id) as session:
                done = await repository.find_step(session, run.tenant_id, run.run_id, step_key)
            if done is not None and isinstance(done.response, dict) and isinstance(done.response.get("at"), str):
                return datetime.fromisoformat(done.response["at"])
        now = read()
        async with tenant_session(self._sessions, run.tenant_id) as session:
            await self.insert_step(
                session, run, step_key, node, "clock", {}, {"at": now.isoformat()}, "ok", None, 1, 0.0
            )
        return now

    async def totals(self, run: RunRef) -> repository.RunTotals:
        """The run's model calls, tokens and ledger rows so far."""
        async with tenant_session(self._sessions, run.tenant_id) as session:
            return await repository.run_totals(session, run.tenant_id, run.run_id)

    async def compensable(self, run: RunRef) -> list[repository.CallRow]:
        """The run's succeeded calls that recorded a compensation, most recent first."""
        async with tenant_session(self._sessions, run.tenant_id) as session:
            return await repository.compensable_calls(session, run.tenant_id, run.run_id)

    async def compensation_started_at(self, run: RunRef) -> datetime | None:
        async with tenant_session(self._sessions, run.tenant_id) as session:
            return await repository.compensation_started_at(session, run.tenant_id, run.run_id)

    def envelope(self, run: RunRef, event_type: str, key: str, data: dict[str, Any]) -> EventEnvelope:
        """An event of the run; its id is deterministic from the type and `key` (an idem key)."""
        return EventEnvelope(
            id=event_id(event_type, key), type=event_type, tenant_id=run.tenant_id, occurred_at=self._clock(), data=data
        )

    async def insert_step(
        self,
        session: AsyncSession,
        run: RunRef,
        step_key: str,
        node: str,
        kind: str,
        request: dict[str, Any],
        response: Any,
        status: str,
        error_class: str | None,
        attempt: int,
        latency_ms: float,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: Decimal = Decimal(0),
    ) -> None:
        """One step row in the caller's transaction (nothing when the run already has `step_key`)."""
        await repository.insert_step(
            session,
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_key=step_key,
            node=node,
            kind=kind,
            request=request,
            request_sha256=sha256_of(request),
            response=response,
            status=status,
            error_class=error_class,
            attempt=attempt,
            latency_ms=max(latency_ms, 0.0),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost_usd,
            now=self._clock(),
        )

    async def publish(self, events: Sequence[Outbound]) -> None:
        """Publish now what the outbox holds (best effort: the relay publishes it anyway); within
        `deferred_events()`, hand it to the caller's list instead."""
        if self._publisher is None:
            return
        deferred = _DEFERRED.get()
        if deferred is not None:
            deferred.extend(events)
            return
        for event, subject in events:
            try:
                await self._publisher.publish(event, subject=subject)
            except NATS_UNAVAILABLE as exc:
                log.warning("event left to the outbox relay", extra={"type": event.type, "error": repr(exc)[:200]})
                return


async def write_events(session: AsyncSession, events: Sequence[Outbound]) -> None:
    """Store `events` in the caller's transaction (the outbox)."""
    for event, subject in events:
        await write_outbox(session, event, subject=subject)
