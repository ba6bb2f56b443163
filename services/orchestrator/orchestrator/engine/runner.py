"""`Engine.execute`: one command (start, resume, cancel, expire) applied to one run, idempotently.

The run's checkpoints live on one pooled connection bound to its tenant for the whole call (`tenant_saver`,
which also takes the run's lease: `RunLeased` propagates, the worker retries later). Where the thread stands
decides what happens (`graph.aget_state`):

- finished (no next node): its outcome again, nothing re-run;
- at an interrupt: `start` re-reports `interrupted`; `resume` continues with `Command(resume=value)`;
- part-way (a crash, a failed step): `start`/`resume` continue from the last checkpoint (`ainvoke(None)`): the
  node that was running runs again, and its calls answer from the ledger;
- not started: `start` runs the graph from its input. The run's first execution ever (`RunSpec.first_execution`,
  the worker's first delivery of its start) knows that without reading: it skips the state read, its model calls
  the look-up of a recorded answer, and its outcome's counts are what it recorded itself.

A step that fails for good (`StepFailed`) ends the run: the saga compensates what the run recorded and the run is
`compensated`, or `failed` when there was nothing to undo or an undo failed. `cancel` and `expire` of an unfinished
run take the same saga and end `cancelled`/`expired`. Executing again after any of these finds the same answers in
the ledger and returns the same outcome with no new effect.

Durability: Order and Lead checkpoint every step (`sync`); FAQ follows its manifest, or `exit` when the tenant
flag `orch.faq.durability_exit` (run snapshot) or `ORCH_FAQ_DURABILITY=exit` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock as platform_clock
from aiaas.checkpoints import CheckpointPool, tenant_saver
from aiaas.events.publisher import EventPublisher
from aiaas.tools import ToolAdapter
from orchestrator import graphs
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.executor import FAQ_EXIT_FLAG, Executor, durability_for
from orchestrator.engine.types import Command, RunHooks, RunOutcome, RunSpec
from orchestrator.ledger import CrashPoint, Ledger
from orchestrator.llm import GatewayLLM
from orchestrator.saga import Saga

__all__ = ["FAQ_EXIT_FLAG", "Engine", "durability_for"]


class Engine:
    """Runs agents' graphs with checkpoints under RLS, a write-ahead ledger for tools and a saga for failures.

    `publisher` (optional) publishes the ledger's and the saga's events right after their commit; without it the
    outbox relay publishes them. `clock` is business time (ledger rows, the Lead's next business day).
    `record_bodies=False` (or the setting `record_bodies`) is the recording-cost benchmark's baseline only: step
    rows without response bodies.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        checkpoints: CheckpointPool,
        tools: ToolAdapter,
        llm: GatewayLLM,
        settings: OrchestratorSettings,
        clock: Callable[[], datetime] = platform_clock.now,
        publisher: EventPublisher | None = None,
        record_bodies: bool | None = None,
    ) -> None:
        self._checkpoints = checkpoints
        if record_bodies is None:  # ORCH_RECORD_BODIES (benchmark baseline: false)
            record_bodies = settings.record_bodies
        self.ledger = Ledger(
            sessions,
            tools,
            service_key=llm.service_key,
            clock=clock,
            deadline_s=settings.tool_deadline_s,
            publisher=publisher,
            crash=CrashPoint.from_settings(test_hooks=settings.test_hooks, test_crash_at=settings.test_crash_at),
            record_bodies=record_bodies,
        )
        self._executor = Executor(
            graphs={name: graph for name, graph in graphs.build_graphs().items()},
            ledger=self.ledger,
            llm=llm,
            clock=clock,
            comp_max_age_s=settings.comp_max_age_s,
            tool_deadline_s=settings.tool_deadline_s,
            faq_durability=settings.faq_durability,
        )
        self.saga: Saga = self._executor.saga

    async def execute(
        self, spec: RunSpec, command: Command, hooks: RunHooks, *, resume_value: Any = None
    ) -> RunOutcome:
        """Apply `command` to the run; see the module doc for what each does where the thread stands."""
        async with tenant_saver(self._checkpoints, spec.tenant_id, spec.run_id) as (saver, thread_id):
            return await self._executor.execute_on(saver, thread_id, spec, command, hooks, resume_value=resume_value)
