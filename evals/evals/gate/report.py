"""The gate's report: one JSON document (validated by `evals/schemas/report.schema.json`) and its Markdown.

The JSON carries the verdict and exit code, every criterion, per-agent and per-task results (failing assertions
with task, path, expected and actual), the judge's state and the deltas against the baseline. The baseline file
is such a report with the volatile fields (run ids, latencies, durations) left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from evals.gate.config import GateConfig
from evals.gate.criteria import Criterion, decide, evaluate_criteria, judge_counts
from evals.gate.stats import is_flaky, task_score
from evals.loader import SCHEMAS_DIR

__all__ = ["ReportError", "build_report", "strip_volatile", "validate_report", "write_report"]

SCHEMA_VERSION = 1
VOLATILE_TASK_FIELDS = ("run_id", "latency_ms")


class ReportError(ValueError):
    """A report (or baseline) that does not validate against report.schema.json."""


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / "report.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_report(report: Mapping[str, Any], what: str = "report") -> None:
    errors = sorted(_validator().iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        raise ReportError(f"{what} does not validate at {where}: {first.message[:300]}")


def _agents(tasks: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    base_agents = (baseline or {}).get("agents", {})
    agents: dict[str, Any] = {}
    for name in sorted({task["agent"] for task in tasks}):
        mine = [task for task in tasks if task["agent"] == name]
        judged = [float(t["judge"]["score"]) for t in mine if (t.get("judge") or {}).get("score") is not None]
        entry: dict[str, Any] = {
            "tasks": len(mine),
            "passed": sum(1 for task in mine if task["passed"]),
            "pass_rate": round(sum(1 for task in mine if task["passed"]) / len(mine), 6),
            "judge_mean": round(sum(judged) / len(judged), 6) if judged else None,
            "failing": [task["task_id"] for task in mine if not task["passed"]],
        }
        base = base_agents.get(name)
        if base:
            entry["delta"] = {
                "pass_rate": round(entry["pass_rate"] - float(base["pass_rate"]), 6),
                "judge_mean": None
                if entry["judge_mean"] is None or base.get("judge_mean") is None
                else round(entry["judge_mean"] - float(base["judge_mean"]), 6),
            }
        agents[name] = entry
    return agents


def _task_entries(
    tasks: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None, use_judge: bool, config: GateConfig
) -> list[dict[str, Any]]:
    base = {task["task_id"]: task for task in (baseline or {}).get("tasks", [])}
    base_judge = judge_counts((baseline or {}).get("judge") or {})
    entries = []
    for task in tasks:
        entry = dict(task)
        judge = task.get("judge") or {}
        threshold = float(judge.get("min_score", config.judge_task_min))
        entry["flaky"] = bool(judge.get("epoch_scores")) and is_flaky(judge["epoch_scores"], threshold)
        entry["score"] = round(task_score(task, use_judge=use_judge), 6)
        old = base.get(task["task_id"])
        entry["baseline"] = (
            None
            if old is None
            else {
                "passed": bool(old["passed"]),
                "score_delta": round(
                    task_score(task, use_judge=use_judge and base_judge)
                    - task_score(old, use_judge=use_judge and base_judge),
                    6,
                ),
            }
        )
        entries.append(entry)
    return entries


def build_report(
    *,
    tasks: Sequence[Mapping[str, Any]],
    errors: Sequence[Mapping[str, Any]],
    judge_status: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    replay_summary: Mapping[str, Any] | None,
    replay_note: str,
    config: GateConfig,
    created_at: datetime,
    model: str,
    overrides: Mapping[str, str],
    duration_s: float,
    timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The report of one gate run (not yet validated: `validate_report`)."""
    use_judge = judge_counts(judge_status)
    criteria: list[Criterion] = evaluate_criteria(tasks, judge_status, baseline, replay_summary, replay_note, config)
    verdict, exit_code = decide(criteria, errors)
    judged = [float(t["judge"]["score"]) for t in tasks if (t.get("judge") or {}).get("score") is not None]
    critical = [task for task in tasks if task["critical"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at.isoformat(),
        "verdict": verdict,
        "exit_code": exit_code,
        "model": model,
        "overrides": dict(overrides),
        "duration_s": round(duration_s, 2),
        "timings": dict(timings or {}),
        "thresholds": config.as_dict(),
        "judge": dict(judge_status),
        "summary": {
            "tasks": len(tasks),
            "passed": sum(1 for task in tasks if task["passed"]),
            "errors": len(errors),
            "critical": len(critical),
            "critical_passed": sum(1 for task in critical if task["passed"]),
            "judge_mean": round(sum(judged) / len(judged), 6) if judged else None,
            "failing": [task["task_id"] for task in tasks if not task["passed"]],
        },
        "criteria": [criterion.as_dict() for criterion in criteria],
        "agents": _agents(tasks, baseline),
        "tasks": _task_entries(tasks, baseline, use_judge, config),
        "baseline": None
        if baseline is None
        else {
            "created_at": baseline.get("created_at"),
            "model": baseline.get("model"),
            "verdict": baseline.get("verdict"),
        },
        "replay": None if replay_summary is None else dict(replay_summary),
        "errors": [dict(error) for error in errors],
    }


def strip_volatile(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report as the committed baseline keeps it: no run ids, latencies or duration (they change every run)."""
    kept = dict(report)
    kept["duration_s"] = 0.0
    kept["timings"] = {}
    kept["tasks"] = [{**task, **dict.fromkeys(VOLATILE_TASK_FIELDS)} for task in report["tasks"]]
    return kept


def write_report(report: Mapping[str, Any], markdown: str, reports_dir: Path, stem: str) -> tuple[Path, Path]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path = reports_dir / f"{stem}.json"
    md_path = reports_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path
