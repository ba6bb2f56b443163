"""The report as Markdown (written beside the JSON and printed to the log): verdict, criteria, then per agent
the tasks, their deltas against the baseline and every failing assertion (task, path, expected, actual)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["render_markdown"]

_MARK = {"pass": "PASS", "fail": "FAIL", "advisory": "advisory", "skipped": "skipped"}


def _value(value: Any, width: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _delta(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def render_markdown(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    lines = [
        f"# Evals gate: {report['verdict'].upper()} (exit {report['exit_code']})",
        "",
        f"model `{report['model']}`"
        + "".join(f", {key} `{value}`" for key, value in sorted(report["overrides"].items()) if key != "model_alias")
        + f"; {summary['passed']}/{summary['tasks']} tasks pass, {summary['critical_passed']}/{summary['critical']}"
        f" critical; judge {report['judge']['status']}"
        + (f", mean {summary['judge_mean']:.3f}" if summary["judge_mean"] is not None else "")
        + f"; {report['duration_s']:.1f} s"
        + (
            " ("
            + ", ".join(
                f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s"
                for k, v in report["timings"].items()
                if not k.startswith("ready_")
            )
            + ")"
            if report["timings"]
            else ""
        ),
        "",
    ]
    if report["judge"].get("note"):
        lines += [f"> judge: {report['judge']['note']}", ""]
    if report["errors"]:
        lines += ["## Errors", ""]
        for error in report["errors"]:
            where = f" ({error['task_id']})" if error.get("task_id") else ""
            lines.append(f"- **{error['kind']}**{where}: {error['message']}")
        lines.append("")
    lines += ["## Criteria", "", "| criterion | result | value | threshold | note |", "|---|---|---|---|---|"]
    for criterion in report["criteria"]:
        note = criterion["note"] + (f" — tasks: {', '.join(criterion['tasks'])}" if criterion["tasks"] else "")
        lines.append(
            f"| {criterion['id']} | {_MARK[criterion['status']]} | {_number(criterion['value'])} |"
            f" {_number(criterion['threshold'])} | {note.replace('|', '/')} |"
        )
    lines.append("")
    for agent, stats in report["agents"].items():
        delta = stats.get("delta")
        lines += [
            f"## {agent}: {stats['passed']}/{stats['tasks']} pass"
            + (f", judge mean {stats['judge_mean']:.3f}" if stats["judge_mean"] is not None else "")
            + (
                f" (vs baseline: pass rate {_delta(delta['pass_rate'])}, judge {_delta(delta['judge_mean'])})"
                if delta
                else ""
            ),
            "",
            "| task | critical | status | result | judge | score Δ vs baseline |",
            "|---|---|---|---|---|---|",
        ]
        mine = [task for task in report["tasks"] if task["agent"] == agent]
        for task in mine:
            judge = task.get("judge") or {}
            result = "pass" if task["passed"] else ("ERROR" if task["error"] else "FAIL")
            flaky = " (flaky)" if task["flaky"] else ""
            base = task["baseline"]
            lines.append(
                f"| {task['task_id']} | {'yes' if task['critical'] else ''} | {task['status'] or '–'} | {result}{flaky}"
                f" | {_number(judge.get('score'))} | {_delta(base['score_delta']) if base else '–'} |"
            )
        failing = [(task, failure) for task in mine for failure in task["failures"]]
        if failing:
            lines += ["", "Failing assertions:", ""]
            for task, failure in failing:
                lines.append(
                    f"- `{task['task_id']}` assert[{failure['index']}] {failure['type']} at `{failure['path']}`:"
                    f" expected {_value(failure['expected'])}, actual {_value(failure['actual'])}"
                    + (f" — {failure['message']}" if failure.get("message") else "")
                )
        errored = [task for task in mine if task["error"]]
        if errored:
            lines += ["", "Errors:", ""]
            lines += [f"- `{task['task_id']}` ({task['error_kind']}): {task['error']}" for task in errored]
        lines.append("")
    return "\n".join(lines)
