"""Run golden tasks against the real orchestrator: one fresh tenant per task, fixtures, the run, its evidence.

Per task: a tenant and key through the control plane's admin API; its `tenant_fixture.flags` as tenant overrides
(the orchestrator snapshots them into the run, which the runner checks); the toolbox seeded with
`fixtures.toolbox`; `fixtures.knowledge_base` uploaded and ingested; `POST /runs` (waiting); each `input.resume`
value sent to the interrupted run; then the run, its history and its events on ORCH_EVENTS, read once the
worker published the delivery's outcome event (it publishes the ledger's events first). The assertions and the
judge see exactly what the API shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.assertions import evaluate
from evals.loader import GoldenTask
from evals.observation import Observation
from evals.runner.platform import PlatformClient, PlatformError, ServiceUnreachable, Tenant

__all__ = ["JudgeCall", "RunSettings", "TaskResult", "run_task", "run_tasks"]

SETTLED = frozenset({"interrupted", "succeeded", "failed", "compensated", "cancelled", "expired"})
OUTCOME_EVENTS = ("orch.run.completed", "orch.run.interrupted")
# The flag cache of the orchestrator API follows the control plane's KV bucket by watch; a run created this long
# after the override is set sees it (and the runner checks the run's snapshot either way).
FLAG_SETTLE_S = 0.5

JudgeCall = Callable[[GoldenTask, dict[str, Any] | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class RunSettings:
    concurrency: int = 4
    run_timeout_s: float = 60.0
    wait_s: float = 30.0
    events_timeout_s: float = 10.0
    label: str = "eval"


@dataclass
class TaskResult:
    """One task's outcome: `error` when it could not be run (the gate's exit 2), else the failing assertions."""

    task_id: str
    agent: str
    critical: bool
    run_id: str | None = None
    status: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    assertions: int = 0
    error: str | None = None
    error_kind: str | None = None  # "unreachable", "platform", "judge_parse", "judge"
    judge: dict[str, Any] | None = None
    latency_ms: float | None = None
    llm_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures

    @property
    def assertion_pass_rate(self) -> float:
        if self.assertions == 0:
            return 0.0
        failed = len({failure["index"] for failure in self.failures})
        return (self.assertions - failed) / self.assertions

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "agent": self.agent,
            "critical": self.critical,
            "run_id": self.run_id,
            "status": self.status,
            "passed": self.passed,
            "assertions": self.assertions,
            "assertion_pass_rate": round(self.assertion_pass_rate, 6),
            "failures": self.failures,
            "error": self.error,
            "error_kind": self.error_kind,
            "judge": self.judge,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "tokens": self.tokens,
        }


async def _fixtures(client: PlatformClient, tenant: Tenant, task: GoldenTask) -> float:
    """Apply the task's tenant fixture and fixtures; the monotonic time its flags were set (0: none)."""
    flags_set = 0.0
    for key, value in task.data["tenant_fixture"].get("flags", {}).items():
        await client.set_tenant_flag(tenant, key, value)
        flags_set = time.monotonic()
    fixtures = task.data.get("fixtures", {})
    if "toolbox" in fixtures:
        await client.seed_toolbox(tenant, fixtures["toolbox"])
    documents = fixtures.get("knowledge_base", [])
    if documents:
        await asyncio.gather(*(client.upload_document(tenant, name) for name in documents))
    return flags_set


def _check_flag_snapshot(task: GoldenTask, run: dict[str, Any]) -> None:
    wanted = task.data["tenant_fixture"].get("flags", {})
    snapshot = run.get("flags") or {}
    wrong = {key: snapshot.get(key) for key, value in wanted.items() if snapshot.get(key) != value}
    if wrong:
        raise PlatformError(f"the run snapshotted flags {wrong}, the tenant fixture sets {wanted}")


async def _events(client: PlatformClient, tenant: Tenant, outcomes: int, timeout_s: float) -> list[dict[str, Any]]:
    """The tenant's events once `outcomes` outcome events are on the stream (the ledger's come before them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        events = await client.tenant_events(tenant)
        if sum(1 for event in events if event["type"] in OUTCOME_EVENTS) >= outcomes:
            return events
        if time.monotonic() > deadline:
            raise PlatformError(f"{outcomes} outcome event(s) of the run not on ORCH_EVENTS after {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


async def _drive(client: PlatformClient, task: GoldenTask, settings: RunSettings, result: TaskResult) -> Observation:
    tenant = await client.create_tenant(task.id)
    flags_set = await _fixtures(client, tenant, task)
    if flags_set:
        await asyncio.sleep(max(0.0, flags_set + FLAG_SETTLE_S - time.monotonic()))
    started = time.monotonic()
    key = f"{settings.label}-{task.id}"
    created = await client.create_run(tenant, task.agent, task.data["input"]["run_input"], key, settings.wait_s)
    result.run_id = str(created["run_id"])
    run = await client.settle(tenant, result.run_id, SETTLED, settings.run_timeout_s)
    _check_flag_snapshot(task, run)
    outcomes = 1
    for value in task.data["input"].get("resume", []):
        if run["status"] != "interrupted":
            break  # nothing to resume: the assertions say whether the run should have stopped
        await client.resume(tenant, result.run_id, value)
        run = await client.settle(tenant, result.run_id, SETTLED, settings.run_timeout_s)
        outcomes += 1
    latency_ms = (time.monotonic() - started) * 1000
    events = await _events(client, tenant, outcomes, settings.events_timeout_s)
    history = await client.history(tenant, result.run_id)
    tool_events = [event for event in events if event["type"].startswith("tool.call.")]
    return Observation.from_api(run, history, tool_events, latency_ms=latency_ms)


async def run_task(
    client: PlatformClient, task: GoldenTask, settings: RunSettings, judge: JudgeCall | None = None
) -> TaskResult:
    """Run one task; a failure of the platform or the judge is the result's `error`, never an exception."""
    result = TaskResult(task.id, task.agent, task.critical, assertions=len(task.data["assert"]))
    try:
        observation = await _drive(client, task, settings, result)
    except ServiceUnreachable as exc:
        result.error, result.error_kind = str(exc), "unreachable"
        return result
    except PlatformError as exc:
        result.error, result.error_kind = str(exc), "platform"
        return result
    except (KeyError, TypeError, ValueError) as exc:  # an answer without the fields the API documents
        result.error, result.error_kind = f"unexpected answer from the platform: {exc!r}", "platform"
        return result
    result.status = observation.status
    result.latency_ms = observation.latency_ms
    result.llm_calls = observation.llm_calls()
    result.tool_calls = len(observation.tool_calls)
    result.tokens = observation.tokens()
    result.failures = [failure.as_dict() for failure in evaluate(task.data, observation)]
    if judge is not None and "judge" in task.data:
        result.judge = await judge(task, observation.output)
        if result.judge.get("error"):
            result.error, result.error_kind = str(result.judge["error"]), str(result.judge.get("error_kind", "judge"))
    return result


async def run_tasks(
    client: PlatformClient,
    tasks: Sequence[GoldenTask],
    settings: RunSettings,
    judge: JudgeCall | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> list[TaskResult]:
    """Every task, at most `settings.concurrency` at a time; results in the tasks' order."""
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(task: GoldenTask) -> TaskResult:
        async with gate:
            result = await run_task(client, task, settings, judge)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(task) for task in tasks)))
