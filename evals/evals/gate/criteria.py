"""The gate's criteria over one evaluation's task results (as report dicts), the baseline and a replay summary.

Each criterion is `pass`, `fail`, `advisory` (measured, but cannot fail the gate: an uncalibrated judge) or
`skipped` (its input is absent: no baseline, no judge, no replay summary), with the value, the threshold, the
tasks that made it fail and a note. The verdict: any error -> exit 2; else any failed criterion -> 1; else 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.gate.config import GateConfig
from evals.gate.stats import is_flaky, paired_bootstrap, task_score

__all__ = ["Criterion", "decide", "evaluate_criteria", "judge_counts"]

EXIT_PASS, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


@dataclass
class Criterion:
    id: str
    status: str  # pass | fail | advisory | skipped
    value: float | int | None
    threshold: float | int | None
    note: str = ""
    tasks: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "value": None if self.value is None else round(float(self.value), 6),
            "threshold": self.threshold,
            "note": self.note,
            "tasks": self.tasks,
            "detail": self.detail,
        }


def _rate(tasks: Sequence[Mapping[str, Any]]) -> float:
    return sum(1 for task in tasks if task["passed"]) / len(tasks) if tasks else 1.0


def judge_counts(judge_status: Mapping[str, Any]) -> bool:
    """Whether judge scores count towards task scores and the gate (a calibrated judge that ran)."""
    return judge_status.get("status") == "gating"


def _pass_rates(tasks: Sequence[Mapping[str, Any]], config: GateConfig) -> list[Criterion]:
    critical = [task for task in tasks if task["critical"]]
    failing_critical = [task["task_id"] for task in critical if not task["passed"]]
    failing = [task["task_id"] for task in tasks if not task["passed"]]
    critical_rate, rate = _rate(critical), _rate(tasks)
    return [
        Criterion(
            "critical_tasks",
            "pass" if critical_rate >= config.critical_pass_rate else "fail",
            critical_rate,
            config.critical_pass_rate,
            f"{len(critical) - len(failing_critical)}/{len(critical)} critical tasks pass",
            failing_critical,
        ),
        Criterion(
            "all_tasks",
            "pass" if rate >= config.pass_rate else "fail",
            rate,
            config.pass_rate,
            f"{len(tasks) - len(failing)}/{len(tasks)} tasks pass",
            failing,
        ),
    ]


def _judge(tasks: Sequence[Mapping[str, Any]], judge_status: Mapping[str, Any], config: GateConfig) -> list[Criterion]:
    state = judge_status.get("status")
    if state not in ("gating", "advisory"):
        note = str(judge_status.get("note") or f"judge {state}")
        return [Criterion("judge_scores", "skipped", None, config.judge_mean_min, note),
                Criterion("flaky_tasks", "skipped", None, config.flaky_max_share, note)]  # fmt: skip
    judged = [task for task in tasks if (task.get("judge") or {}).get("score") is not None]
    if not judged:
        return [Criterion("judge_scores", "skipped", None, config.judge_mean_min, "no task was judged"),
                Criterion("flaky_tasks", "skipped", None, config.flaky_max_share, "no task was judged")]  # fmt: skip
    scores = {task["task_id"]: float(task["judge"]["score"]) for task in judged}
    mean = sum(scores.values()) / len(scores)
    low = sorted(
        task["task_id"]
        for task in judged
        if scores[task["task_id"]] < max(config.judge_task_min, float(task["judge"].get("min_score", 0)))
    )
    failed = mean < config.judge_mean_min or bool(low)
    advisory = state == "advisory"
    note = f"mean {mean:.3f} over {len(judged)} judged tasks; {len(low)} below their minimum"
    if advisory:
        note += "; ADVISORY: " + str(judge_status.get("note") or "judge not calibrated")
    flaky = sorted(
        task["task_id"]
        for task in judged
        if is_flaky(
            task["judge"].get("epoch_scores") or [], float(task["judge"].get("min_score", config.judge_task_min))
        )
    )
    share = len(flaky) / len(tasks)
    return [
        Criterion(
            "judge_scores",
            ("advisory" if advisory else "fail") if failed else "pass",
            mean,
            config.judge_mean_min,
            note,
            low,
            {"task_min": config.judge_task_min, "min_score": min(scores.values())},
        ),
        Criterion(
            "flaky_tasks",
            ("advisory" if advisory else "fail") if share > config.flaky_max_share else "pass",
            share,
            config.flaky_max_share,
            f"{len(flaky)}/{len(tasks)} tasks with judge epochs on both sides of their threshold",
            flaky,
        ),
    ]


def _baseline(
    tasks: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None, use_judge: bool, config: GateConfig
) -> Criterion:
    if baseline is None:
        return Criterion("baseline_delta", "skipped", None, config.baseline_min_lower_bound,
                         "no baseline (python -m evals baseline --update writes evals/baseline.json)")  # fmt: skip
    base_judge = judge_counts(baseline.get("judge") or {})
    both = use_judge and base_judge  # compare like with like: judge scores only when both runs counted them
    candidate = {task["task_id"]: task_score(task, use_judge=both) for task in tasks}
    reference = {task["task_id"]: task_score(task, use_judge=both) for task in baseline.get("tasks", [])}
    try:
        result = paired_bootstrap(
            candidate,
            reference,
            resamples=config.baseline_resamples,
            confidence=config.baseline_confidence,
            seed=config.baseline_seed,
        )
    except ValueError as exc:
        return Criterion("baseline_delta", "skipped", None, config.baseline_min_lower_bound, str(exc))
    worse = sorted(task for task in candidate if task in reference and candidate[task] < reference[task])
    return Criterion(
        "baseline_delta",
        "pass" if result.lower >= config.baseline_min_lower_bound else "fail",
        result.lower,
        config.baseline_min_lower_bound,
        f"mean delta {result.mean_delta:+.4f}, {int(result.confidence * 100)} % CI "
        f"[{result.lower:+.4f}, {result.upper:+.4f}] over {result.n} paired tasks"
        + ("" if both else " (assertions only: the judge did not count on both sides)"),
        worse,
        result.as_dict(),
    )


def _replay(summary: Mapping[str, Any] | None, note: str, config: GateConfig) -> Criterion:
    if summary is None:
        return Criterion("exact_replay", "skipped", None, config.replay_max_divergences, note)
    divergences = int(summary.get("divergences", 0))
    return Criterion(
        "exact_replay",
        "pass" if divergences <= config.replay_max_divergences else "fail",
        divergences,
        config.replay_max_divergences,
        f"{divergences} divergences over {summary.get('episodes', '?')} episodes",
        [str(item) for item in summary.get("diverged", [])][:50],
    )


def evaluate_criteria(
    tasks: Sequence[Mapping[str, Any]],
    judge_status: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    replay_summary: Mapping[str, Any] | None,
    replay_note: str,
    config: GateConfig,
) -> list[Criterion]:
    use_judge = judge_counts(judge_status)
    return [
        *_pass_rates(tasks, config),
        *_judge(tasks, judge_status, config),
        _baseline(tasks, baseline, use_judge, config),
        _replay(replay_summary, replay_note, config),
    ]


def decide(criteria: Sequence[Criterion], errors: Sequence[Mapping[str, Any]]) -> tuple[str, int]:
    """(verdict, exit code): error 2 before regression 1 before pass 0."""
    if errors:
        return "error", EXIT_ERROR
    if any(criterion.status == "fail" for criterion in criteria):
        return "regression", EXIT_REGRESSION
    return "pass", EXIT_PASS
