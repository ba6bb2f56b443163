"""One delivery of `orch.run.requested` = one `Engine.execute`: the run's row before, its outcome after.

`RunProcessor.process` loads the run and, in the same statement, marks it `running` (one more delivery) unless the
message no longer means anything (a run already terminal, a start for a run that already reached its interrupt, an
expiry of a run that was resumed since: acked and skipped, `stale_reason`); executes (the engine resumes from
the checkpoint, so a redelivery after a crash continues where the dead worker stopped); then stores the outcome
in ONE statement with its event in the outbox (`orch.run.interrupted` or `orch.run.completed`, deterministic
ids), sends that event at once too (same id: JetStream keeps one of this copy and the relay's), and says how the
message is answered: ack, nak with a delay (the run is leased by another worker), or dead-letter.

The ledger's events of the delivery (tool.call.*, saga.*), each committed with its step, are sent in the same
batch just before the run's event (`deferred_events`), in commit order, instead of one round trip after each commit.
No PubAck is awaited for them: every one is in the outbox already, and the relay publishes it whatever this send
did; waiting would only hold the run's slot (and a JetStream ack per event) for what the relay makes true anyway.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.checkpoints import RunLeased
from aiaas.db import tenant_session
from aiaas.events import EventEnvelope, EventPublisher, event_id
from aiaas.events.orchestration import (
    ORCH_RUN_COMPLETED,
    ORCH_RUN_INTERRUPTED,
    OrchRunCompleted,
    OrchRunInterrupted,
    OrchRunRequested,
)
from aiaas.events.publisher import NATS_UNAVAILABLE, PendingEvent
from orchestrator.engine import Command, Engine, RunOutcome, RunSpec
from orchestrator.ledger import Outbound, deferred_events
from orchestrator.worker import repository
from orchestrator.worker.manifests import pinned_manifest
from orchestrator.worker.metrics import DELIVERY_SECONDS, RUNS_TOTAL

__all__ = ["Disposition", "RunProcessor"]

log = logging.getLogger(__name__)

Heartbeat = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Disposition:
    """How the message is answered once its delivery is done."""

    action: Literal["ack", "nak", "dead_letter"]
    delay_s: float = 0.0
    reason: str = ""


ACK = Disposition("ack")


def stale_reason(row: repository.RunRow, reason: str, now: datetime) -> str | None:
    """Why this request no longer applies to the run as it is now (None: execute it)."""
    if row.status in repository.TERMINAL:
        return f"run already {row.status}"
    if reason == "start" and row.status == "interrupted":
        return "start of a run that waits at its interrupt"
    if reason == "expire":
        expires = row.interrupt_expires_at
        if expires is None or expires > now:
            return "expiry of a run no longer waiting (resumed, or interrupted again later)"
    return None


def command_for(row: repository.RunRow, request: OrchRunRequested) -> Command:
    """The request's command, except that a run whose cancel was asked is cancelled by whichever request comes
    first (its cancel request may wait behind this one): the saga undoes what it did, it does nothing more."""
    if row.cancel_requested and request.reason in ("start", "resume"):
        return "cancel"
    return request.reason


class _Hooks:
    """What the engine calls during a run: in-progress acks, and the run's status as the saga moves it."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, run_id: uuid.UUID, heartbeat: Heartbeat
    ) -> None:
        self._sessions = sessions
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._heartbeat = heartbeat
        self._status = "running"

    async def heartbeat(self) -> None:
        await self._heartbeat()

    async def status(self, status: str) -> None:
        if status == self._status:
            return
        async with tenant_session(self._sessions, self._tenant_id) as session:
            await repository.set_status(session, self._run_id, status, clock.now())
        self._status = status


class RunProcessor:
    """Executes run requests; one instance serves every delivery of a worker."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        engine: Engine,
        publisher: EventPublisher,
        hitl_expiry_s: float,
        leased_retry_s: float,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._publisher = publisher
        self._hitl_expiry = timedelta(seconds=hitl_expiry_s)
        self._leased_retry_s = leased_retry_s

    async def process(self, event: EventEnvelope, request: OrchRunRequested, heartbeat: Heartbeat) -> Disposition:
        tenant_id, run_id = event.tenant_id, request.run_id
        started = time.perf_counter()
        now = clock.now()
        async with tenant_session(self._sessions, tenant_id) as session:
            claimed = await repository.claim_run(session, run_id, request.reason, now)
        if claimed is None:
            # The API commits the row before its event exists: a request for no row never will succeed.
            return Disposition("dead_letter", reason=f"run {run_id} not found for tenant {tenant_id}")
        row, deliveries = claimed
        skip = stale_reason(row, request.reason, now)
        if skip is not None:
            log.info("run request skipped", extra={"run_id": str(run_id), "reason": request.reason, "why": skip})
            return ACK
        if deliveries is None:
            return ACK
        DELIVERY_SECONDS.labels(phase="load").observe(time.perf_counter() - started)
        command = command_for(row, request)
        spec = RunSpec(
            tenant_id=tenant_id,
            run_id=run_id,
            manifest=pinned_manifest(row),
            model_alias=row.model_alias,
            seed=row.seed,
            input=row.input,
            flags=row.flags,
            # `deliveries` counts every delivery that got this far (committed above): 1 = none ever executed.
            first_execution=deliveries == 1 and command == "start",
        )
        hooks = _Hooks(self._sessions, tenant_id, run_id, heartbeat)
        resume_value = row.resume_value if request.reason == "resume" else None
        started = time.perf_counter()
        with deferred_events() as ledger_events:
            try:
                outcome = await self._engine.execute(spec, command, hooks, resume_value=resume_value)
            except RunLeased:
                # Another worker executes this run now (a redelivery while it was still at work); it acks its own.
                log.info("run leased elsewhere, retrying later", extra={"run_id": str(run_id)})
                return Disposition("nak", delay_s=self._leased_retry_s)
            except Exception:
                await self._publish(ledger_events)  # what the failed execution committed
                raise
        DELIVERY_SECONDS.labels(phase="execute").observe(time.perf_counter() - started)
        started = time.perf_counter()
        await self.persist(row, request, outcome, deliveries=deliveries, ledger_events=ledger_events)
        DELIVERY_SECONDS.labels(phase="persist").observe(time.perf_counter() - started)
        return ACK

    async def persist(
        self,
        row: repository.RunRow,
        request: OrchRunRequested,
        outcome: RunOutcome,
        *,
        deliveries: int,
        ledger_events: list[Outbound] | None = None,
    ) -> None:
        """The outcome and its event in one transaction, then the delivery's ledger events and that event published
        at once, in that order (the outbox is the net)."""
        now = clock.now()
        expires_at = now + self._hitl_expiry if outcome.status == "interrupted" else None
        event = self._event(row, outcome, expires_at=expires_at, deliveries=deliveries)
        async with tenant_session(self._sessions, row.tenant_id) as session:
            stored = await repository.persist_outcome(
                session,
                row.id,
                status=outcome.status,
                output=outcome.output,
                error=outcome.error,
                interrupt=outcome.interrupt,
                expires_at=expires_at,
                clear_resume=request.reason == "resume",
                now=now,
                event=event,
            )
        events = list(ledger_events or [])
        if not stored:
            log.info("run finished by another delivery", extra={"run_id": str(row.id)})
            await self._publish(events)
            return
        RUNS_TOTAL.labels(agent=row.agent, status=outcome.status).inc()
        await self._publish([*events, (event, None)])

    async def _publish(self, events: list[Outbound]) -> None:
        """Send committed events in order, no ack awaited (the outbox relay publishes each anyway: same id, JetStream
        keeps one; events for another subject, the saga's dead letters, one by one after with their acks); what
        fails is left to the relay."""
        if not events:
            return
        context = otel_context.get_current()
        batch = [PendingEvent(event, context) for event, subject in events if subject is None]
        errors = await self._publisher.publish_nowait(batch)
        failed = [(item.event, error) for item, error in zip(batch, errors, strict=True) if error is not None]
        for event, subject in events:
            if subject is None:
                continue
            try:
                await self._publisher.publish(event, subject=subject)
            except NATS_UNAVAILABLE as exc:
                failed.append((event, exc))
        for event, error in failed:  # the outbox relay publishes it
            log.warning("event left to the outbox", extra={"type": event.type, "error": repr(error)[:200]})

    async def give_up(self, event: EventEnvelope, request: OrchRunRequested, error: str) -> None:
        """The message failed `max_deliveries` times: the run ends `failed` (code worker_error) before the DLQ."""
        async with tenant_session(self._sessions, event.tenant_id) as session:
            row = await repository.load_run(session, request.run_id)
        if row is None or row.status in repository.TERMINAL:
            return
        outcome = RunOutcome(
            status="failed",
            output=None,
            error={"code": "worker_error", "message": error[:500]},
            interrupt=None,
            llm_calls=0,
            tool_calls=0,
            tokens=0,
        )
        await self.persist(row, request, outcome, deliveries=row.deliveries)

    @staticmethod
    def _event(
        row: repository.RunRow,
        outcome: RunOutcome,
        *,
        expires_at: datetime | None,
        deliveries: int,
    ) -> EventEnvelope:
        run = str(row.id)
        if outcome.status == "interrupted":
            interrupt = outcome.interrupt or {}
            node = str(interrupt.get("node") or "interrupt")
            payload = interrupt.get("payload")
            data: dict[str, Any] = OrchRunInterrupted(
                run_id=row.id,
                agent=row.agent,
                node=node,
                payload=payload if isinstance(payload, dict) else {"value": payload},
                expires_at=(expires_at or clock.now()).isoformat(),
            ).model_dump(mode="json")
            # One interrupt per delivery that reached it: a later interrupt of the same run gets its own id.
            key = (ORCH_RUN_INTERRUPTED, run, node, str(deliveries))
            return EventEnvelope(id=event_id(*key), type=ORCH_RUN_INTERRUPTED, tenant_id=row.tenant_id, data=data)
        error_code = (outcome.error or {}).get("code")
        data = OrchRunCompleted(
            run_id=row.id,
            agent=row.agent,
            status=outcome.status,  # type: ignore[arg-type]  # only terminal statuses reach here
            error_code=str(error_code) if error_code is not None else None,
            llm_calls=outcome.llm_calls,
            tool_calls=outcome.tool_calls,
            tokens=outcome.tokens,
        ).model_dump(mode="json")
        # A run completes once, whichever request finished it.
        return EventEnvelope(
            id=event_id(ORCH_RUN_COMPLETED, run), type=ORCH_RUN_COMPLETED, tenant_id=row.tenant_id, data=data
        )
