"""What the assertion engine reads of one run, and what it reports when an assertion does not hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Failure", "Observation"]


@dataclass(frozen=True, slots=True)
class Failure:
    """One assertion that did not hold: the task, the assertion (index in `assert[]`, type), where, and the values."""

    task_id: str
    index: int
    type: str
    path: str
    expected: Any
    actual: Any
    message: str = ""

    def __str__(self) -> str:
        said = f" ({self.message})" if self.message else ""
        return (
            f"task {self.task_id} assert[{self.index}] {self.type} at {self.path}: "
            f"expected {self.expected!r}, got {self.actual!r}{said}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "index": self.index,
            "type": self.type,
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }


@dataclass(slots=True)
class Observation:
    """One run as the API shows it.

    `status`, `output`, `error`, `interrupt` come from `GET /v1/orchestrator/runs/{id}`; `steps` and `tool_calls`
    from `GET /runs/{id}/history` (`RunHistory`: the episode record and the ledger, JSON); `events` are the run's
    `tool.call.*` events, each `{"type": ..., "data": {...}}`. `latency_ms` is the wall time the runner measured
    (when absent, budget assertions use the run's `started_at` -> `finished_at`, else the sum of step latencies).
    """

    status: str
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    interrupt: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @classmethod
    def from_api(
        cls, run: dict[str, Any], history: dict[str, Any], events: list[dict[str, Any]], latency_ms: float | None = None
    ) -> Observation:
        """An observation from the bodies of `GET /runs/{id}`, `GET /runs/{id}/history` and the run's events."""
        return cls(
            status=str(run["status"]),
            output=run.get("output"),
            error=run.get("error"),
            interrupt=run.get("interrupt"),
            steps=list(history.get("steps", [])),
            tool_calls=list(history.get("tool_calls", [])),
            events=list(events),
            latency_ms=latency_ms,
            started_at=run.get("started_at"),
            finished_at=run.get("finished_at"),
        )

    def document(self) -> dict[str, Any]:
        """The JSON document `jsonpath`, `json_schema` and `not_contains` paths are evaluated against."""
        return {"status": self.status, "output": self.output, "error": self.error, "interrupt": self.interrupt}

    def llm_calls(self) -> int:
        return sum(1 for step in self.steps if step.get("kind") == "llm")

    def tokens(self) -> int:
        return sum(int(step.get("tokens_in") or 0) + int(step.get("tokens_out") or 0) for step in self.steps)

    def run_latency_ms(self) -> float | None:
        if self.latency_ms is not None:
            return self.latency_ms
        if self.started_at and self.finished_at:
            started = datetime.fromisoformat(self.started_at)
            finished = datetime.fromisoformat(self.finished_at)
            return (finished - started).total_seconds() * 1000
        timed = [float(step["latency_ms"]) for step in self.steps if step.get("latency_ms") is not None]
        return sum(timed) if timed else None
