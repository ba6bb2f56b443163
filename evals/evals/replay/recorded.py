"""The recorded world of EXACT replay: a ledger that answers every call a graph makes from one episode.

`RecordedLedger` is the production `Ledger` with each entry point the engine and the saga use (`call`, `llm`,
`record`, `clock_reading`, `totals`, `compensable`, `compensation_started_at`, `publish`) answering from the
episode instead of the database, the toolbox and the gateway. It is given no database, tool adapter or model
client: any path that would still reach one raises.

Matching: the calls a replay makes are compared, in order, with the episode's logical steps
(`evals.episodes.canonical.logical_steps`): the i-th call must have the i-th step's node, kind, step key (node
and call index) and fingerprint. The first mismatch raises `Divergence`. A call whose step key was already served
in this replay (a node re-executed after a resume) answers as the live ledger would: from what it served, its
fingerprint checked again, without advancing.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.events.orchestration import TOOL_CALL_REQUESTED
from aiaas.tools import ToolAdapter
from evals.episodes.canonical import logical_steps
from orchestrator.ledger import CallOutcome, Ledger, LLMStepFailed, Outbound, RunRef, call_fingerprint, idem_key
from orchestrator.ledger.repository import CallRow, RunTotals
from orchestrator.ledger.service import ExtraEvents
from orchestrator.llm import LLMReply
from orchestrator.tools_catalog import TOOLS, compensation_for

__all__ = ["Divergence", "RecordedLedger", "ReplayRefused", "Served"]

_END = "<end>"


class ReplayRefused(RuntimeError):
    """Replay reached something outside the record (a database, a tool adapter, a model client)."""


class Divergence(Exception):
    """The replayed graph asked for something else than the record holds at this step."""

    def __init__(self, index: int, expected: dict[str, Any] | None, got: Served | None) -> None:
        exp_fp = _END if expected is None else expected["fingerprint"]
        exp_where = "" if expected is None else f" (node {expected['node']}, kind {expected['kind']})"
        got_fp = _END if got is None else got.fingerprint
        got_where = "" if got is None else f" (node {got.node}, kind {got.kind}, step {got.step_key})"
        super().__init__(f"divergence at step {index}: expected {exp_fp}{exp_where}, got {got_fp}{got_where}")
        self.index = index
        self.expected = expected
        self.got = got


class Served:
    """One call the replay made and what the record answered."""

    __slots__ = ("answer", "fingerprint", "kind", "node", "step_key")

    def __init__(self, node: str, kind: str, step_key: str, fingerprint: str, answer: Any = None) -> None:
        self.node = node
        self.kind = kind
        self.step_key = step_key
        self.fingerprint = fingerprint
        self.answer = answer

    def as_list(self) -> list[str]:
        return [self.node, self.kind, self.step_key, self.fingerprint]


class _Refuse:
    """Stands in for the database and the tool adapter: replay has neither."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ReplayRefused("EXACT replay reached the database")

    def __getattr__(self, name: str) -> Any:
        raise ReplayRefused(f"EXACT replay reached the tool adapter ({name})")


class RecordedLedger(Ledger):
    """A `Ledger` whose answers are the episode's; the events it would write go to `sink`."""

    def __init__(
        self, episode: dict[str, Any], *, clock: Callable[[], datetime], sink: list[Outbound] | None = None
    ) -> None:
        super().__init__(
            cast(async_sessionmaker[AsyncSession], _Refuse()),
            cast(ToolAdapter, _Refuse()),
            service_key="",
            clock=clock,
            deadline_s=0.0,
        )
        self._expected = logical_steps(episode)
        self._calls = {
            (str(c["node"]), int(c["seq"]), c.get("compensation_of") is not None): c for c in episode["tool_calls"]
        }
        self.index = 0
        self.trajectory: list[Served] = []
        self.sink: list[Outbound] = sink if sink is not None else []
        self._served: dict[str, Served] = {}
        self._ledger_rows: list[CallRow] = []
        self._comp_started: datetime | None = None

    # -- matching ------------------------------------------------------------------------------------------------
    def _serve(self, node: str, kind: str, step_key: str, fingerprint: str) -> tuple[Served, bool]:
        """The step this call matches (and whether it was served before in this replay); `Divergence` if none."""
        got = Served(node, kind, step_key, fingerprint)
        expected: dict[str, Any] | None
        before = self._served.get(step_key)
        if before is not None:
            if before.fingerprint != fingerprint or before.kind != kind:
                expected = {"fingerprint": before.fingerprint, "node": before.node, "kind": before.kind}
                raise Divergence(self.index, expected, got)
            return before, True
        expected = self._expected[self.index] if self.index < len(self._expected) else None
        if expected is None or (expected["node"], expected["kind"], expected["step_key"], expected["fingerprint"]) != (
            node,
            kind,
            step_key,
            fingerprint,
        ):
            raise Divergence(self.index, expected, got)
        got.answer = expected
        self.index += 1
        self._served[step_key] = got
        self.trajectory.append(got)
        return got, False

    def finish(self) -> None:
        """After the last command: every recorded step must have been asked for."""
        if self.index < len(self._expected):
            raise Divergence(self.index, self._expected[self.index], None)

    # -- what nodes and the saga call ---------------------------------------------------------------------------
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
        retry_until: float | None = None,  # noqa: ARG002  (the record holds the call's last round)
        retry_fatal: bool = False,  # noqa: ARG002
        heartbeat: Callable[[], Awaitable[None]] | None = None,
        extra_events: ExtraEvents | None = None,
    ) -> CallOutcome:
        step_key = f"{node}#{seq}" if compensation_of is None else f"comp:{node}#{seq}"
        fingerprint = call_fingerprint(kind, {"tool": tool, "args": args})
        if heartbeat is not None:
            await heartbeat()
        served, again = self._serve(node, kind, step_key, fingerprint)
        if again:
            outcome = cast(CallOutcome, served.answer)
            return dataclasses.replace(outcome, stored=True)
        row = self._calls.get((node, seq, compensation_of is not None))
        if row is None or row["tool"] != tool:
            raise Divergence(self.index - 1, served.answer, served)
        key = key or idem_key(run.tenant_id, run.run_id, node, seq, tool, args)
        call_id = uuid.uuid5(run.run_id, step_key)
        ok = row["status"] == "succeeded"
        outcome = CallOutcome(
            call_id=call_id,
            tool=tool,
            idem_key=key,
            status="succeeded" if ok else "failed",
            result=row.get("result"),
            error_class=row.get("error_class"),
            error=row.get("error"),
            attempts=int(row.get("attempts") or 0),
            stored=False,
        )
        served.answer = outcome
        manifest = TOOLS[tool]
        compensation = compensation_for(tool, args, outcome.result) if ok and manifest.side_effect else None
        will_compensate = not ok and kind != "compensation" and bool(self._compensable_rows())
        if compensation_of is not None and self._comp_started is None:
            self._comp_started = self._clock()
        self._ledger_rows.append(
            CallRow(
                id=call_id,
                run_id=run.run_id,
                node=node,
                seq=seq,
                tool=tool,
                args=args,
                idem_key=key,
                side_effect=manifest.side_effect,
                status=outcome.status,
                attempts=outcome.attempts,
                result=outcome.result,
                error_class=outcome.error_class,
                error=outcome.error,
                will_compensate=will_compensate,
                compensation=compensation,
                compensation_of=compensation_of,
                requested_at=self._clock(),
                completed_at=self._clock(),
            )  # fmt: skip
        )
        requested = {"call_id": str(call_id), "run_id": str(run.run_id), "node": node, "seq": seq, "tool": tool}
        self.sink.append((self.envelope(run, TOOL_CALL_REQUESTED, key, requested), None))
        self.sink.append((self._outcome_event(run, outcome, will_compensate, 0.0), None))
        if extra_events is not None:
            self.sink.extend(extra_events(call_id, outcome))
        return outcome

    async def llm(
        self,
        run: RunRef,  # noqa: ARG002
        *,
        node: str,
        step_key: str,
        request: dict[str, Any],
        call: Callable[[], Awaitable[LLMReply]],  # noqa: ARG002  (never called: the record answers)
        look_up: bool = True,  # noqa: ARG002
    ) -> dict[str, Any]:
        served, _ = self._serve(node, "llm", step_key, call_fingerprint("llm", request))
        step = served.answer
        response = step.get("response") if isinstance(step.get("response"), dict) else {}
        if step["status"] != "ok":
            raise LLMStepFailed(step_key, str(response.get("code", "llm_failed")), str(response.get("message")))
        return {**response, "tokens_in": int(step["tokens_in"]), "tokens_out": int(step["tokens_out"])}

    async def record(
        self,
        run: RunRef,  # noqa: ARG002
        *,
        step_key: str,
        node: str,
        kind: str,
        request: dict[str, Any],
        response: Any = None,  # noqa: ARG002
    ) -> None:
        self._serve(node, kind, step_key, call_fingerprint(kind, request))

    async def clock_reading(
        self,
        run: RunRef,  # noqa: ARG002
        *,
        node: str,
        step_key: str,
        read: Callable[[], datetime],  # noqa: ARG002
        look_up: bool = True,  # noqa: ARG002
    ) -> datetime:
        served, _ = self._serve(node, "clock", step_key, call_fingerprint("clock", {}))
        return datetime.fromisoformat(str(served.answer["response"]["at"]))

    async def totals(self, run: RunRef) -> RunTotals:  # noqa: ARG002
        llm = [s.answer for s in self.trajectory if s.kind == "llm"]
        return RunTotals(
            llm_calls=sum(1 for step in llm if step["status"] == "ok"),
            tokens=sum(int(step["tokens_in"]) + int(step["tokens_out"]) for step in llm),
            tool_calls=len(self._ledger_rows),
        )

    def _compensable_rows(self) -> list[CallRow]:
        rows = [
            r for r in self._ledger_rows if r.status == "succeeded" and r.compensation and r.compensation_of is None
        ]
        return rows[::-1]

    async def compensable(self, run: RunRef) -> list[CallRow]:  # noqa: ARG002
        return self._compensable_rows()

    async def compensation_started_at(self, run: RunRef) -> datetime | None:  # noqa: ARG002
        return self._comp_started

    async def publish(self, events: Sequence[Outbound]) -> None:
        self.sink.extend(events)
