"""One gate run: load and check everything, run the tasks, judge, compare, report; answer the exit code.

Exit 2 (error) before anything runs when gate.yaml, a task file or the baseline is invalid (the message names the
file); when a service is unreachable or a judge reply cannot be parsed; 1 when a criterion fails; else 0.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiaas import clock
from evals.gate.config import GATE_FILE, GateConfig, GateConfigError, load_gate_config
from evals.gate.markdown import render_markdown
from evals.gate.report import ReportError, build_report, validate_report, write_report
from evals.loader import EVALS_DIR, GOLDEN_DIR, RUBRICS_DIR, GoldenTask, TaskFileError, load_tasks
from evals.runner.agents import DEFAULT_MODEL
from evals.runner.runner import RunSettings, TaskResult
from evals.runner.session import JudgeOptions, SessionOutcome, evaluate_tasks
from evals.runner.stack import EvalStack, StackUrls

__all__ = ["BASELINE_FILE", "GateOptions", "GateRun", "load_baseline", "run_gate", "select_tasks"]

BASELINE_FILE = EVALS_DIR / "baseline.json"
REPORTS_DIR = EVALS_DIR / "reports"


@dataclass
class GateOptions:
    model: str = DEFAULT_MODEL
    overrides: dict[str, str] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)
    golden_dir: Path = GOLDEN_DIR
    rubrics_dir: Path = RUBRICS_DIR
    gate_file: Path = GATE_FILE
    baseline_file: Path | None = BASELINE_FILE
    reports_dir: Path = REPORTS_DIR
    replay_summary: Path | None = None
    settings: RunSettings = field(default_factory=RunSettings)
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    urls: StackUrls | None = None  # a running platform; None: start one and stop it after
    stack: EvalStack | None = None
    on_result: Callable[[TaskResult], None] | None = None


@dataclass
class GateRun:
    exit_code: int
    report: dict[str, Any] | None
    markdown: str
    paths: tuple[Path, Path] | None = None


def select_tasks(tasks: list[GoldenTask], agents: list[str], task_ids: list[str]) -> list[GoldenTask]:
    """The tasks of `agents` (all when empty), or exactly `task_ids`; ValueError naming an unknown id."""
    known = {task.id for task in tasks}
    unknown = sorted(set(task_ids) - known)
    if unknown:
        raise ValueError(f"no golden task {', '.join(unknown)}")
    chosen = [task for task in tasks if not agents or task.agent in agents]
    return [task for task in chosen if not task_ids or task.id in task_ids]


def load_baseline(path: Path | None) -> Mapping[str, Any] | None:
    """The committed baseline report (None when there is none); ReportError when it does not validate."""
    if path is None or not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    validate_report(data, what=str(path))
    return data


def _replay(path: Path | None) -> tuple[Mapping[str, Any] | None, str]:
    """A replay summary `{"divergences": n, "episodes": m, ...}` (evals.replay's EXACT run), or why there is none."""
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportError(f"replay summary {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("divergences"), int) or data["divergences"] < 0:
            raise ReportError(f"replay summary {path}: needs an integer `divergences` >= 0")
        return data, ""
    if importlib.util.find_spec("evals.replay") is None:
        return None, "evals.replay is not installed: EXACT replay not checked"
    return None, "no replay summary given (--replay-summary): EXACT replay not checked"


def _errors(outcome: SessionOutcome) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if outcome.setup_error:
        errors.append({"kind": outcome.setup_error_kind or "setup", "message": outcome.setup_error, "task_id": None})
    for result in outcome.results:
        if result.error:
            errors.append({"kind": result.error_kind or "platform", "message": result.error, "task_id": result.task_id})
    return errors


def _error_report(config: GateConfig, options: GateOptions, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return build_report(
        tasks=[],
        errors=errors,
        judge_status={"status": "not run"},
        baseline=None,
        replay_summary=None,
        replay_note="not run",
        config=config,
        created_at=clock.now(),
        model=options.model,
        overrides={**options.overrides, "model_alias": options.model},
        duration_s=0.0,
    )


def _finish(report: dict[str, Any], options: GateOptions) -> GateRun:
    validate_report(report)
    markdown = render_markdown(report)
    stamp = report["created_at"].replace(":", "").replace("-", "").split(".")[0].split("+")[0]
    paths = write_report(report, markdown, options.reports_dir, f"gate-{stamp}")
    write_report(report, markdown, options.reports_dir, "gate-latest")
    return GateRun(int(report["exit_code"]), report, markdown, paths)


def run_gate(options: GateOptions) -> GateRun:
    try:
        config = load_gate_config(options.gate_file)
    except GateConfigError as exc:
        return GateRun(2, None, f"gate error: {exc}\n")
    try:
        tasks = select_tasks(load_tasks(options.golden_dir, options.rubrics_dir), options.agents, options.task_ids)
        baseline = load_baseline(options.baseline_file)
        replay_summary, replay_note = _replay(options.replay_summary)
    except TaskFileError as exc:
        error = {"kind": "task_file", "message": str(exc), "task_id": None, "path": str(exc.path)}
        return _finish(_error_report(config, options, [error]), options)
    except (ReportError, ValueError) as exc:
        kind = "replay" if "replay summary" in str(exc) else "baseline" if isinstance(exc, ReportError) else "setup"
        return _finish(_error_report(config, options, [{"kind": kind, "message": str(exc), "task_id": None}]), options)
    if not tasks:
        return _finish(_error_report(config, options, [{"kind": "setup", "message": "no task selected"}]), options)
    outcome = evaluate_tasks(
        tasks,
        model=options.model,
        overrides=options.overrides,
        settings=options.settings,
        judge=options.judge,
        urls=options.urls,
        stack=options.stack,
        on_result=options.on_result,
    )
    report = build_report(
        tasks=[result.as_dict() for result in outcome.results],
        errors=_errors(outcome),
        judge_status=outcome.judge,
        baseline=baseline,
        replay_summary=replay_summary,
        replay_note=replay_note,
        config=config,
        created_at=clock.now(),
        model=outcome.model,
        overrides=outcome.overrides,
        duration_s=outcome.duration_s,
        timings=outcome.timings,
    )
    return _finish(report, options)
