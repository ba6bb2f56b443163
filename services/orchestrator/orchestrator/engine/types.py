"""The engine's contract with the worker and the API: what a run is, what executing it answers, its hooks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from orchestrator.agents.manifest import AgentManifest

__all__ = ["Command", "RunHooks", "RunOutcome", "RunSpec", "RunStatus", "StepFailed"]

Command = Literal["start", "resume", "cancel", "expire"]
RunStatus = Literal["succeeded", "failed", "compensated", "interrupted", "cancelled", "expired"]


@dataclass(frozen=True)
class RunSpec:
    """A run as the worker built it from its `orch_runs` row (the manifest is the one the run pinned)."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    manifest: AgentManifest
    model_alias: str
    seed: int
    input: dict[str, Any]
    # The tenant's flags at run creation, e.g. {"hitl.order.refund_threshold": 100000} (minor units).
    flags: dict[str, Any]
    # True only for the run's first delivery ever, a `start`: no execution before it, so nothing of the run is
    # recorded yet and its model calls need not look for a recorded answer first (one transaction less each).
    first_execution: bool = False


@dataclass(frozen=True)
class RunOutcome:
    """Where an execution left the run.

    `output` is validated against the manifest's output schema when `succeeded`; `error` is `{code, message, ...}`
    (`tool`, `error_class`, `node` for a failed step; `compensated`/`compensation_failed` lists after a saga);
    `interrupt` is `{node, payload}` when `interrupted`. The counts are the run's so far (all executions).
    """

    status: RunStatus
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    interrupt: dict[str, Any] | None
    llm_calls: int
    tool_calls: int
    tokens: int


class RunHooks(Protocol):
    """What the engine tells the worker during an execution."""

    async def heartbeat(self) -> None:
        """Between steps: the worker sends an in-progress ack."""
        ...

    async def status(self, status: str) -> None:
        """The run's status changed ("running", "compensating"): the worker updates its row."""
        ...


class StepFailed(Exception):
    """A step of a graph failed for good: the run ends, and the saga undoes what it recorded."""

    def __init__(
        self,
        node: str,
        code: str,
        message: str,
        *,
        tool: str | None = None,
        error_class: str | None = None,
    ) -> None:
        super().__init__(f"{node}: {code}: {message}")
        self.node = node
        self.code = code
        self.message = message
        self.tool = tool
        self.error_class = error_class

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "node": self.node}
        if self.tool is not None:
            error["tool"] = self.tool
        if self.error_class is not None:
            error["error_class"] = self.error_class
        return error
