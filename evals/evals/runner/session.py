"""One evaluation: the platform (started here, or one already running), the agents' model, the judge, the tasks.

The judge is `evals.judge` (scores computed by code from the rubric's criteria, through the gateway with a
dedicated eval tenant's key). When that module is not installed the tasks are still run and asserted, and the
report says the judge was unavailable; a judge reply it cannot parse is an error of the task (exit 2).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from evals.loader import EVALS_DIR, GoldenTask
from evals.runner.agents import DEFAULT_MODEL, register_agents
from evals.runner.platform import PlatformClient, PlatformError, ServiceUnreachable
from evals.runner.runner import JudgeCall, RunSettings, TaskResult, run_tasks
from evals.runner.stack import EvalStack, StackError, StackUrls
from evals.runner.volatile import stable_output

__all__ = ["JudgeOptions", "SessionOutcome", "evaluate_tasks"]

JUDGE_CACHE_DIR = EVALS_DIR / "reports" / ".judge-cache"


@dataclass(frozen=True)
class JudgeOptions:
    enabled: bool = True
    model: str = "sim-judge-v1"
    epochs: int = 3
    seed: int = 16
    max_calls: int = 400
    cache_dir: Path = JUDGE_CACHE_DIR


@dataclass
class SessionOutcome:
    results: list[TaskResult]
    model: str
    overrides: dict[str, str]
    judge: dict[str, Any]
    duration_s: float
    setup_error: str | None = None
    setup_error_kind: str | None = None
    manifests: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # stack start, tasks, stack stop (seconds)


def _judge_module() -> Any | None:
    try:
        return importlib.import_module("evals.judge")
    except ImportError:
        return None


async def _make_judge(client: PlatformClient, options: JudgeOptions) -> tuple[Any, JudgeCall | None, dict[str, Any]]:
    """The judge (to close), the runner's call into it, and what the report says of it."""
    if not options.enabled:
        return None, None, {"status": "disabled", "note": "judge turned off (--no-judge)"}
    module = _judge_module()
    if module is None:
        return None, None, {"status": "unavailable", "note": "evals.judge is not installed: judge criteria skipped"}
    calibration = dict(module.load_calibration_status())
    tenant = await client.create_tenant("judge")
    settings = module.JudgeSettings(
        gateway_url=client.urls.gateway,
        api_key=tenant.api_key,
        model=options.model,
        epochs=options.epochs,
        seed=options.seed,
        cache_dir=options.cache_dir,
        max_calls=options.max_calls,
    )
    judge = module.Judge(settings)
    parse_error = module.JudgeParseError

    async def call(task: GoldenTask, output: dict[str, Any] | None) -> dict[str, Any]:
        spec = task.data["judge"]
        base = {"rubric": spec["rubric"], "min_score": spec["min_score"]}
        try:
            scored = await judge.score(
                task_id=task.id,
                rubric_ref=spec["rubric"],
                input_messages=list(task.data["input"]["messages"]),
                output=stable_output(output, task.data["input"]) if output is not None else "",
            )
        except parse_error as exc:
            return {**base, "error": f"judge reply unparsable for {task.id}: {exc}", "error_kind": "judge_parse"}
        except Exception as exc:  # noqa: BLE001 - any other judge failure is the task's error, reported by kind
            return {**base, "error": f"judge failed for {task.id}: {exc!r}", "error_kind": "judge"}
        return {
            **base,
            "score": float(scored.score),
            "epoch_scores": [float(s) for s in scored.epoch_scores],
            "criteria": list(scored.criteria),
            "calls": int(scored.calls),
            "cached": bool(scored.cached),
        }

    status = {"status": "advisory" if calibration.get("advisory") else "gating", "calibration": calibration,
              "model": options.model, "epochs": options.epochs}  # fmt: skip
    if calibration.get("advisory"):
        status["note"] = "judge calibration below agreement/kappa thresholds: judge criteria are advisory"
    return judge, call, status


async def preflight(client: PlatformClient) -> None:
    """Every service the tasks need answers its health check (ServiceUnreachable naming the first that does not):
    a run against a missing simulator would fail its assertions, and that is an error of the platform, not a
    regression of the agents."""
    urls = client.urls
    checks = [
        ("orchestrator", f"{urls.orchestrator}/health/ready"),
        ("gateway", f"{urls.gateway}/health/ready"),
        ("toolbox", f"{urls.toolbox}/health/ready"),
        ("ingestion", f"{urls.ingestion}/health/ready"),
        ("control plane", f"{urls.control_plane}/health/ready"),
    ]
    if urls.provider_sim:
        checks.append(("provider simulator", f"{urls.provider_sim}/health"))
    for name, url in checks:
        try:
            async with client.http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status != 200:
                    raise ServiceUnreachable(f"{name} at {url} answers {resp.status}")
        except (aiohttp.ClientConnectionError, TimeoutError):
            raise ServiceUnreachable(f"{name} unreachable at {url}") from None


async def _evaluate(
    urls: StackUrls,
    tasks: Sequence[GoldenTask],
    overrides: Mapping[str, str],
    settings: RunSettings,
    judge_options: JudgeOptions,
    on_result: Callable[[TaskResult], None] | None,
) -> tuple[list[TaskResult], dict[str, Any], dict[str, Any]]:
    # No keep-alive: a pooled connection the server closed meanwhile would fail a POST (ServerDisconnectedError).
    connector = aiohttp.TCPConnector(force_close=True, limit=64)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90), connector=connector) as http:
        client = PlatformClient(urls, http)
        try:
            await preflight(client)
            manifests = await register_agents(client, {task.agent for task in tasks}, overrides)
            judge, call, judge_status = await _make_judge(client, judge_options)
            try:
                results = await run_tasks(client, tasks, settings, call, on_result)
            finally:
                if judge is not None:
                    await judge.aclose()
            judge_status["calls"] = sum(int((r.judge or {}).get("calls", 0)) for r in results)
            await preflight(client)  # still all there: a part that died mid-run is an error, not a regression
            if client.upload_retries:
                print(f"[evals] {client.upload_retries} KB upload(s) answered 500 and were repeated", file=sys.stderr)
            return results, judge_status, manifests
        finally:
            await client.aclose()


def evaluate_tasks(
    tasks: Sequence[GoldenTask],
    *,
    model: str = DEFAULT_MODEL,
    overrides: Mapping[str, str] | None = None,
    settings: RunSettings | None = None,
    judge: JudgeOptions | None = None,
    urls: StackUrls | None = None,
    stack: EvalStack | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> SessionOutcome:
    """Run `tasks` on `urls` (a running platform) or on a platform started here and stopped after."""
    began = time.monotonic()
    timings: dict[str, float] = {}
    chosen = {**(overrides or {}), "model_alias": model}
    settings = settings or RunSettings()
    judge = judge or JudgeOptions()
    own = urls is None
    stack = stack or EvalStack()
    try:
        if own:
            urls = stack.start()
            timings["stack_start_s"] = round(time.monotonic() - began, 2)
            timings.update({f"ready_{name}_s": seconds for name, seconds in stack.ready_s.items()})
        assert urls is not None
        tasks_began = time.monotonic()
        results, judge_status, manifests = asyncio.run(_evaluate(urls, tasks, chosen, settings, judge, on_result))
        timings["tasks_s"] = round(time.monotonic() - tasks_began, 2)
    except (StackError, PlatformError) as exc:
        kind = "unreachable" if isinstance(exc, ServiceUnreachable) else "setup"
        spent = time.monotonic() - began
        return SessionOutcome([], model, chosen, {"status": "not run"}, spent, str(exc), kind, timings=timings)
    finally:
        if own:
            stopping = time.monotonic()
            stack.stop()
            timings["stack_stop_s"] = round(time.monotonic() - stopping, 2)
    duration = time.monotonic() - began
    return SessionOutcome(results, model, chosen, judge_status, duration, manifests=manifests, timings=timings)
