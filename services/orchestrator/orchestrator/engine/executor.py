"""The engine's run logic on a given checkpointer: what the production engine runs on a run's tenant-bound saver
and what EXACT replay (evals/evals/replay) runs on an in-memory one with a recorded ledger.

One command (start, resume, cancel, expire) is applied where the thread stands (`graph.aget_state`); see
`orchestrator.engine.runner` for the contract. Everything a graph's nodes do goes through `ledger` (tool calls,
model calls, interrupts, resumes, clock readings), so swapping the ledger swaps the outside world.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from jsonschema.validators import validator_for
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command as GraphCommand
from langgraph.types import StateSnapshot

from orchestrator.engine.context import RunContext, Tally
from orchestrator.engine.types import Command, RunHooks, RunOutcome, RunSpec, RunStatus, StepFailed
from orchestrator.ledger import Ledger, RunRef
from orchestrator.llm import GatewayLLM
from orchestrator.saga import Saga, SagaResult

__all__ = ["FAQ_EXIT_FLAG", "Executor", "durability_for"]

log = logging.getLogger(__name__)

FAQ_EXIT_FLAG = "orch.faq.durability_exit"

Graph = CompiledStateGraph[Any, Any, Any, Any]


def durability_for(spec: RunSpec, faq_durability: str) -> Literal["sync", "exit"]:
    """`sync` for Order and Lead always; FAQ: `exit` behind the flag or the setting, else its manifest's."""
    manifest = spec.manifest
    if manifest.graph != "faq":
        return "sync"
    if spec.flags.get(FAQ_EXIT_FLAG) is True or faq_durability == "exit":
        return "exit"
    return manifest.durability


class Executor:
    """Runs a command of a run on the saver it is given, with `ledger` for every outside call and a saga over it."""

    def __init__(
        self,
        *,
        graphs: dict[str, Graph],
        ledger: Ledger,
        llm: GatewayLLM,
        clock: Callable[[], datetime],
        comp_max_age_s: float,
        tool_deadline_s: float,
        faq_durability: str,
    ) -> None:
        self.graphs = graphs
        self.ledger = ledger
        self.saga = Saga(ledger, max_age_s=comp_max_age_s, clock=clock)
        self._llm = llm
        self._clock = clock
        self._comp_max_age_s = comp_max_age_s
        self._tool_deadline_s = tool_deadline_s
        self._faq_durability = faq_durability

    async def execute_on(
        self,
        saver: BaseCheckpointSaver[Any],
        thread_id: str,
        spec: RunSpec,
        command: Command,
        hooks: RunHooks,
        *,
        resume_value: Any = None,
    ) -> RunOutcome:
        run = RunRef(tenant_id=spec.tenant_id, run_id=spec.run_id, agent=spec.manifest.name)
        # A saver is always attached: `durability` on a graph without one raises (langgraph 1.2).
        graph = self.graphs[spec.manifest.graph].copy(update={"checkpointer": saver})
        config: Any = {"configurable": {"thread_id": thread_id}}
        # A first execution has no checkpoint to read: it starts the graph from its input.
        graph_input: Any = {"input": spec.input, "actions": []}
        if not spec.first_execution:
            state = await graph.aget_state(config)
            if _finished(state):
                return await self._finished(run, spec, state)
            if command in ("cancel", "expire"):
                return await self._abort(run, command, hooks)
            waiting = _interrupt_of(state)
            if waiting is not None and command != "resume":
                return await self._outcome(run, "interrupted", interrupt=waiting)
            if waiting is not None:
                graph_input = GraphCommand(resume=resume_value)
            elif state.values:
                graph_input = None  # continue from the last checkpoint
        ctx = RunContext(
            spec=spec,
            run=run,
            ledger=self.ledger,
            llm=self._llm,
            hooks=hooks,
            clock=self._clock,
            forward_recovery_s=self._comp_max_age_s,
            read_recovery_s=self._tool_deadline_s,
        )
        try:
            await graph.ainvoke(graph_input, config, context=ctx, durability=durability_for(spec, self._faq_durability))
        except StepFailed as exc:
            log.info("run step failed", extra={"run_id": str(spec.run_id), "node": exc.node, "code": exc.code})
            return await self._fail(run, exc, hooks)
        state = await graph.aget_state(config)
        # The totals of a first execution are what it recorded itself (no read); a saga's calls are not in its
        # tally, so a failure above reads them.
        tally = ctx.tally if spec.first_execution else None
        waiting = _interrupt_of(state)
        if waiting is not None:
            return await self._outcome(run, "interrupted", interrupt=waiting, tally=tally)
        return await self._finished(run, spec, state, tally)

    async def _finished(
        self, run: RunRef, spec: RunSpec, state: StateSnapshot, tally: Tally | None = None
    ) -> RunOutcome:
        values = state.values
        out = values.get("output")
        if values.get("denied"):
            error = {"code": "approval_denied", "message": "The approver declined: the run ended without effect."}
            return await self._outcome(run, "cancelled", output=out, error=error, tally=tally)
        problems = _schema_problems(spec.manifest.output_schema, out)
        if problems:
            error = {"code": "invalid_output", "message": "; ".join(problems)[:1000]}
            return await self._outcome(run, "failed", error=error, tally=tally)
        return await self._outcome(run, "succeeded", output=out, tally=tally)

    async def _fail(self, run: RunRef, exc: StepFailed, hooks: RunHooks) -> RunOutcome:
        saga = await self.saga.compensate(run, hooks)
        error = {**exc.as_error(), **_saga_error(saga)}
        status: RunStatus = "compensated" if saga.compensated and not saga.failed else "failed"
        return await self._outcome(run, status, error=error)

    async def _abort(self, run: RunRef, command: Command, hooks: RunHooks) -> RunOutcome:
        saga = await self.saga.compensate(run, hooks)
        status: RunStatus = "cancelled" if command == "cancel" else "expired"
        message = "The run was cancelled." if command == "cancel" else "The run's approval was not given in time."
        error = {"code": status, "message": message, **_saga_error(saga)}
        return await self._outcome(run, status, error=error)

    async def _outcome(
        self,
        run: RunRef,
        status: RunStatus,
        *,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        interrupt: dict[str, Any] | None = None,
        tally: Tally | None = None,
    ) -> RunOutcome:
        if tally is None:
            totals = await self.ledger.totals(run)
            tally = Tally(tool_calls=totals.tool_calls, llm_calls=totals.llm_calls, tokens=totals.tokens)
        return RunOutcome(
            status=status,
            output=output,
            error=error,
            interrupt=interrupt,
            llm_calls=tally.llm_calls,
            tool_calls=tally.tool_calls,
            tokens=tally.tokens,
        )


def _finished(state: StateSnapshot) -> bool:
    return bool(state.values) and not state.next


def _interrupt_of(state: StateSnapshot) -> dict[str, Any] | None:
    for task in state.tasks:
        if task.interrupts:
            return {"node": task.name, "payload": task.interrupts[0].value}
    return None


def _saga_error(saga: SagaResult) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if saga.compensated:
        extra["compensated"] = saga.undone_tools
    if saga.failed:
        extra["compensation_failed"] = [
            {"tool": item["tool"], "compensates": item["compensates"], "error_class": item["error_class"]}
            for item in saga.failed
        ]
    return extra


def _schema_problems(schema: dict[str, Any], value: Any) -> list[str]:
    validator = validator_for(schema)(schema)
    return [f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}" for error in validator.iter_errors(value)]
