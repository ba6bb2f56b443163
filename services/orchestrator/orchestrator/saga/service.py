"""The saga: undo a run's recorded effects, most recent first, each compensation an idempotent ledger call.

When a run fails (a tool step's fatal failure, a non-fatal one whose forward recovery ran out, a failed model
call) or is cancelled or expires, the engine calls `Saga.compensate`. It reads the run's succeeded calls that
recorded a compensation (`tool_calls.compensation`: the tool and arguments that undo them, written with their
outcome) and calls each undo through the ledger in reverse order, keyed `comp:<idem_key>` and linked by
`compensation_of`, so a saga that is re-executed (a crash, a redelivery) never undoes anything twice: a
compensation already done answers from the ledger.

Each compensation is retried with full-jitter back-off (whatever its error class: undoing must not give up on a
4xx a person may fix) until `ORCH_COMP_MAX_AGE` has passed since the run's first compensation was requested. Then
its failure is recorded with `saga.compensation.failed` (ORCH_EVENTS) and a copy on `dlq.ORCH_EVENTS.saga` (the DLQ
stream), both in the outcome's transaction, and `orch_compensation_failures_total` counts it (the alert). A
success writes `saga.compensation.succeeded`. Either way the saga goes on with the next compensation.

Reading of the issue's "a fatal failure before the pivot compensates; after the pivot, only forward recovery",
reconciled with acceptance 4 ("fatal create_shipment -> refund_payment then release_inventory, run compensated"):
- a **fatal** failure (the backend refused: a 4xx it does not mark retryable) compensates the run wherever it
  happens, before or after the pivot (`payments.charge`): it cannot be cured by calling again, and the charge is
  refundable, so a fatal `create_shipment` (422 `address_undeliverable`) refunds and then releases;
- a failure a retry can cure (retryable, timeout, circuit_open, bulkhead_full) of a side-effecting step is never
  compensated blind: the step is called again with its key (forward recovery, orchestrator/engine/context.py)
  until the same horizon, before the pivot as after it: a timed-out reservation or charge may have happened, and
  only asking again with the same key tells (compensating without knowing would leak the effect). Only when
  forward recovery itself runs out does the run end and compensate what it recorded;
- a read or a model call that fails ends the run at once (the adapter retried the read; model calls are the
  gateway's to retry), and compensates what was recorded before it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import Counter

from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.orchestration import SAGA_COMPENSATION_FAILED, SAGA_COMPENSATION_SUCCEEDED
from orchestrator.ledger import CallOutcome, Ledger, RunRef, compensation_key
from orchestrator.ledger.repository import CallRow

__all__ = [
    "COMPENSATIONS_TOTAL",
    "COMPENSATION_FAILURES",
    "SAGA_DLQ_SUBJECT",
    "Saga",
    "SagaResult",
]

COMPENSATIONS_TOTAL = Counter("orch_compensations_total", "Compensations finished, by outcome", ["outcome"])
COMPENSATION_FAILURES = Counter(
    "orch_compensation_failures_total",
    "Compensations given up after ORCH_COMP_MAX_AGE (each also in the DLQ): alert on any increase",
    ["tool"],
)
# The DLQ stream takes `dlq.>`; the saga's failures are grouped like a consumer's: dlq.<stream>.<what>.
SAGA_DLQ_SUBJECT = "dlq.ORCH_EVENTS.saga"


class _Hooks(Protocol):
    async def heartbeat(self) -> None: ...
    async def status(self, status: str) -> None: ...


@dataclass(frozen=True)
class SagaResult:
    """Which of the run's effects were undone and which could not be (each `{tool, compensates, call_id, ...}`)."""

    compensated: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def undone_tools(self) -> list[str]:
        return [item["compensates"] for item in self.compensated]


class Saga:
    """Compensates runs through the ledger; `max_age_s` is ORCH_COMP_MAX_AGE."""

    def __init__(self, ledger: Ledger, *, max_age_s: float, clock: Callable[[], datetime]) -> None:
        self._ledger = ledger
        self._max_age_s = max_age_s
        self._clock = clock

    async def compensate(self, run: RunRef, hooks: _Hooks) -> SagaResult:
        """Undo every recorded effect of `run` in reverse order; `hooks.status("compensating")` first if any."""
        calls = await self._ledger.compensable(run)
        if not calls:
            return SagaResult()
        await hooks.status("compensating")
        started_at = await self._ledger.compensation_started_at(run) or self._clock()
        result = SagaResult()
        for call in calls:
            outcome = await self._undo(run, call, started_at, hooks.heartbeat)
            item = {
                "tool": outcome.tool,
                "compensates": call.tool,
                "call_id": str(outcome.call_id),
                "compensates_call_id": str(call.id),
            }
            if outcome.ok:
                result.compensated.append(item)
            else:
                result.failed.append({**item, "error_class": outcome.error_class, "error": outcome.error})
        return result

    async def _undo(
        self, run: RunRef, call: CallRow, started_at: datetime, heartbeat: Callable[[], Awaitable[None]]
    ) -> CallOutcome:
        assert call.compensation is not None  # compensable_calls selects only these
        comp_tool = str(call.compensation["tool"])
        comp_args = dict(call.compensation["args"])
        age = (self._clock() - started_at).total_seconds()
        retry_until = time.monotonic() + max(self._max_age_s - age, 0.0)

        def events(call_id: Any, outcome: CallOutcome) -> Sequence[tuple[EventEnvelope, str | None]]:
            return self._events(run, call, call_id, outcome, started_at)

        outcome = await self._ledger.call(
            run,
            node=call.node,
            seq=call.seq,
            tool=comp_tool,
            args=comp_args,
            kind="compensation",
            key=compensation_key(call.idem_key),
            compensation_of=call.id,
            retry_until=retry_until,
            retry_fatal=True,
            heartbeat=heartbeat,
            extra_events=events,
        )
        if not outcome.stored:
            COMPENSATIONS_TOTAL.labels(outcome=outcome.status).inc()
            if not outcome.ok:
                COMPENSATION_FAILURES.labels(tool=comp_tool).inc()
        return outcome

    def _events(
        self, run: RunRef, call: CallRow, call_id: Any, outcome: CallOutcome, started_at: datetime
    ) -> list[tuple[EventEnvelope, str | None]]:
        data: dict[str, Any] = {
            "run_id": str(run.run_id),
            "call_id": str(call_id),
            "compensates": str(call.id),
            "tool": outcome.tool,
            "idem_key": outcome.idem_key,
            "attempts": outcome.attempts,
            "age_s": round(max((self._clock() - started_at).total_seconds(), 0.0), 3),
        }
        if outcome.ok:
            return [(self._ledger.envelope(run, SAGA_COMPENSATION_SUCCEEDED, outcome.idem_key, data), None)]
        data["error_class"] = outcome.error_class
        data["error_code"] = (outcome.error or {}).get("code")
        event = self._ledger.envelope(run, SAGA_COMPENSATION_FAILED, outcome.idem_key, data)
        # The DLQ's copy is an event of its own (its own id: the outbox keeps one row per id).
        dead = event.model_copy(update={"id": event_id(SAGA_COMPENSATION_FAILED, "dlq", outcome.idem_key)})
        return [(event, None), (dead, SAGA_DLQ_SUBJECT)]
