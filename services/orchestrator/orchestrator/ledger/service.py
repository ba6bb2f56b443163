"""The write-ahead ledger: every tool call of a run in three steps, and every model call once.

A tool call (`Ledger.call`):
1. one transaction: the `requested` row + outbox `tool.call.requested`. A key that already has a row answers from
   it: `succeeded` -> its stored result, `failed` -> its stored failure, nothing called; `requested` (a crash
   between call and outcome) -> called again below with the same key, so the backend replays its stored answer;
2. the call through the tool adapter with `Idempotency-Key: <idem_key>` (the crash point sits right after it);
3. one transaction: the outcome + `tool.call.succeeded|failed` (+ the compensation that undoes a succeeded
   side-effecting call, + the caller's extra events) + its `orch_steps` row.
With `retry_until`, a failure is retried with full-jitter back-off and the same key until then (the saga's
compensations, a step's forward recovery): each failed round appends a step row, the call stays `requested`.

Model calls, interrupts and resumes are recorded by the base class (`orchestrator.ledger.record.EpisodeRecord`).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events.envelope import EventEnvelope
from aiaas.events.orchestration import TOOL_CALL_FAILED, TOOL_CALL_REQUESTED, TOOL_CALL_SUCCEEDED
from aiaas.events.publisher import EventPublisher
from aiaas.resilience import RetryPolicy, retry_async
from aiaas.tools import ErrorClass, ToolAdapter, ToolCallError, ToolResult
from orchestrator.ledger import repository
from orchestrator.ledger.crash import CrashPoint
from orchestrator.ledger.keys import idem_key
from orchestrator.ledger.record import STEP_LATENCY, EpisodeRecord, Outbound, RunRef, write_events
from orchestrator.tools_catalog import TOOLS, compensation_for, tool_headers

__all__ = ["CallOutcome", "ExtraEvents", "Ledger"]


@dataclass(frozen=True)
class CallOutcome:
    """A tool call's recorded outcome. `stored` = answered from the ledger, nothing called."""

    call_id: uuid.UUID
    tool: str
    idem_key: str
    status: Literal["succeeded", "failed"]
    result: Any
    error_class: str | None
    error: dict[str, Any] | None
    attempts: int
    stored: bool

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


# (call id, outcome) -> extra events for the outcome's transaction (the saga's).
ExtraEvents = Callable[[uuid.UUID, CallOutcome], Sequence[Outbound]]


class _RoundFailed(Exception):
    def __init__(self, error: ToolCallError) -> None:
        super().__init__(str(error))
        self.error = error


class Ledger(EpisodeRecord):
    """Tool calls of runs, recorded write-ahead under the run's tenant (RLS), and their episode record."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tools: ToolAdapter,
        *,
        service_key: str,
        clock: Callable[[], datetime],
        deadline_s: float,
        publisher: EventPublisher | None = None,
        crash: CrashPoint | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        record_bodies: bool = True,
    ) -> None:
        super().__init__(sessions, clock=clock, publisher=publisher, record_bodies=record_bodies)
        self._tools = tools
        self._service_key = service_key
        self._deadline_s = deadline_s
        self._crash = crash or CrashPoint(None)
        # Rounds of a retried call (compensations, forward recovery): bounded by `retry_until`, not by a count.
        self._retry = retry or RetryPolicy(max_attempts=1_000_000, base_delay=0.2, max_delay=5.0, jitter="full")
        self._rng = rng

    # -- tool calls --------------------------------------------------------------------------------------------
    async def call(
        self,
        run: RunRef,
        *,
        node: str,
        seq: int,
        tool: str,
        args: dict[str, Any],
        kind: str = "tool",
        key: str | None = None,
        compensation_of: uuid.UUID | None = None,
        retry_until: float | None = None,
        retry_fatal: bool = False,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
        extra_events: ExtraEvents | None = None,
    ) -> CallOutcome:
        """Call `tool` once per key (see the module doc); a failure is an outcome, never an exception."""
        manifest = TOOLS[tool]
        key = key or idem_key(run.tenant_id, run.run_id, node, seq, tool, args)
        step_base = f"{node}#{seq}" if compensation_of is None else f"comp:{node}#{seq}"
        begun = await self._begin(run, node, seq, tool, args, key, manifest.side_effect, compensation_of, step_base)
        if isinstance(begun, CallOutcome):
            return begun
        call_id, prior_attempts, rounds = begun  # a left-over row goes on numbering its rounds' steps
        attempts = 0
        counted = 0  # attempts already added to the row by failed rounds

        async def one_round() -> ToolResult:
            nonlocal rounds, attempts, counted
            rounds += 1
            if heartbeat is not None:
                await heartbeat()
            started = time.perf_counter()
            try:
                result = await self._tools.call(
                    manifest,
                    args,
                    idempotency_key=key,
                    headers=tool_headers(manifest, str(run.tenant_id), self._service_key),
                    deadline=time.monotonic() + self._deadline_s,
                )
            except ToolCallError as exc:
                self._crash.after_effect(node)
                attempts += exc.attempts
                if retry_until is not None:  # a retried call keeps a step row per failed round
                    await self._record_round(run, call_id, step_base, rounds, node, kind, tool, args, key, exc, started)
                    counted += exc.attempts
                raise _RoundFailed(exc) from None
            self._crash.after_effect(node)
            attempts += result.attempts
            return result

        def retryable(exc: BaseException) -> bool:
            if retry_until is None or not isinstance(exc, _RoundFailed):
                return False
            return retry_fatal or exc.error.error_class is not ErrorClass.FATAL

        started = time.perf_counter()
        result: ToolResult | None = None
        failure: ToolCallError | None = None
        try:
            result = await retry_async(
                one_round,
                policy=self._retry,
                is_retryable=retryable,
                deadline=retry_until,
                try_at_deadline=True,
                rng=self._rng,
            )
        except _RoundFailed as failed:
            failure = failed.error
        latency = (time.perf_counter() - started) * 1000
        outcome = CallOutcome(
            call_id=call_id,
            tool=tool,
            idem_key=key,
            status="succeeded" if failure is None else "failed",
            result=None if result is None else result.body,
            error_class=None if failure is None else failure.error_class.value,
            error=None if failure is None else _error_of(failure),
            attempts=prior_attempts + attempts,
            stored=False,
        )
        step = _step_key(step_base, rounds)
        await self._settle(
            run, outcome, attempts - counted, node, kind, step, rounds, args, latency, extra_events, result
        )
        return outcome

    async def _begin(
        self,
        run: RunRef,
        node: str,
        seq: int,
        tool: str,
        args: dict[str, Any],
        key: str,
        side_effect: bool,
        compensation_of: uuid.UUID | None,
        step_base: str,
    ) -> CallOutcome | tuple[uuid.UUID, int, int]:
        """Phase 1: the stored outcome, or (call id, attempts so far, rounds recorded) of a `requested` row (new, or
        left over by an execution that died between call and outcome)."""
        call_id = uuid.uuid4()
        events: list[Outbound] = []
        rounds = 0
        async with tenant_session(self._sessions, run.tenant_id) as session:
            inserted = await repository.insert_call(
                session,
                tenant_id=run.tenant_id,
                call_id=call_id,
                run_id=run.run_id,
                node=node,
                seq=seq,
                tool=tool,
                args=args,
                idem_key=key,
                side_effect=side_effect,
                compensation_of=compensation_of,
                now=self._clock(),
            )
            if inserted:
                data = {
                    "call_id": str(call_id),
                    "run_id": str(run.run_id),
                    "node": node,
                    "seq": seq,
                    "tool": tool,
                    "idem_key": key,
                    "side_effect": side_effect,
                    "compensation_of": None if compensation_of is None else str(compensation_of),
                }
                events.append((self.envelope(run, TOOL_CALL_REQUESTED, key, data), None))
                await write_events(session, events)
                row = None
            else:
                row = await repository.find_call(session, run.tenant_id, key)
                if row is not None and row.status == "requested":
                    rounds = await repository.count_call_steps(session, run.tenant_id, run.run_id, step_base)
        await self.publish(events)
        if row is None:
            return call_id, 0, 0
        if row.status == "requested":
            return row.id, row.attempts, rounds
        return CallOutcome(
            call_id=row.id,
            tool=row.tool,
            idem_key=row.idem_key,
            status="succeeded" if row.status == "succeeded" else "failed",
            result=row.result,
            error_class=row.error_class,
            error=row.error,
            attempts=row.attempts,
            stored=True,
        )

    async def _record_round(
        self,
        run: RunRef,
        call_id: uuid.UUID,
        step_base: str,
        round_no: int,
        node: str,
        kind: str,
        tool: str,
        args: dict[str, Any],
        key: str,
        exc: ToolCallError,
        started: float,
    ) -> None:
        """A failed round of a call that will be retried: its step row and attempts; the row stays `requested`."""
        latency = (time.perf_counter() - started) * 1000
        request = {"tool": tool, "args": args, "idem_key": key}
        async with tenant_session(self._sessions, run.tenant_id) as session:
            await repository.count_attempts(session, run.tenant_id, call_id, exc.attempts)
            await self.insert_step(
                session, run, _step_key(step_base, round_no), node, kind, request, _error_of(exc), "error",
                exc.error_class.value, round_no, latency,
            )  # fmt: skip
        STEP_LATENCY.labels(agent=run.agent, kind=kind).observe(latency / 1000)

    async def _settle(
        self,
        run: RunRef,
        outcome: CallOutcome,
        attempts: int,
        node: str,
        kind: str,
        step_key: str,
        round_no: int,
        args: dict[str, Any],
        latency_ms: float,
        extra_events: ExtraEvents | None,
        result: ToolResult | None = None,
    ) -> None:
        """Phase 3: outcome + its events + its step row, in one transaction."""
        manifest = TOOLS[outcome.tool]
        compensation = None
        if outcome.ok and manifest.side_effect:
            compensation = compensation_for(outcome.tool, args, outcome.result)
        events: list[Outbound] = []
        async with tenant_session(self._sessions, run.tenant_id) as session:
            will_compensate = False
            if not outcome.ok and kind != "compensation":
                will_compensate = bool(await repository.compensable_calls(session, run.tenant_id, run.run_id))
            finished = await repository.finish_call(
                session,
                tenant_id=run.tenant_id,
                call_id=outcome.call_id,
                status=outcome.status,
                attempts=attempts,
                result=outcome.result,
                error_class=outcome.error_class,
                error=outcome.error,
                will_compensate=will_compensate,
                compensation=compensation,
                now=self._clock(),
            )
            if not finished:  # another execution recorded it first (it held the lease before us): keep theirs
                return
            events.append((self._outcome_event(run, outcome, will_compensate, latency_ms), None))
            if extra_events is not None:
                events.extend(extra_events(outcome.call_id, outcome))
            await write_events(session, events)
            response: Any = outcome.result if outcome.ok else outcome.error
            if outcome.ok and not self.record_bodies:
                response = None
            elif result is not None and result.replayed is not None:
                response = {"body": outcome.result, "replayed": result.replayed}
            request = {"tool": outcome.tool, "args": args, "idem_key": outcome.idem_key}
            await self.insert_step(
                session, run, step_key, node, kind, request, response, "ok" if outcome.ok else "error",
                outcome.error_class, max(round_no, 1), latency_ms,
            )  # fmt: skip
        STEP_LATENCY.labels(agent=run.agent, kind=kind).observe(latency_ms / 1000)
        await self.publish(events)

    def _outcome_event(self, run: RunRef, outcome: CallOutcome, will_compensate: bool, latency: float) -> EventEnvelope:
        base = {
            "call_id": str(outcome.call_id),
            "run_id": str(run.run_id),
            "tool": outcome.tool,
            "idem_key": outcome.idem_key,
            "attempts": outcome.attempts,
        }
        if outcome.ok:
            return self.envelope(run, TOOL_CALL_SUCCEEDED, outcome.idem_key, {**base, "latency_ms": round(latency, 3)})
        code = (outcome.error or {}).get("code")
        data = {**base, "error_class": outcome.error_class, "error_code": code, "will_compensate": will_compensate}
        return self.envelope(run, TOOL_CALL_FAILED, outcome.idem_key, data)


def _step_key(base: str, round_no: int) -> str:
    return base if round_no <= 1 else f"{base}@{round_no}"


def _error_of(exc: ToolCallError) -> dict[str, Any]:
    return {"code": exc.code or exc.error_class.value, "message": str(exc)[:500], "status": exc.status}
