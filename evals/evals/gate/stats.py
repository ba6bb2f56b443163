"""The gate's statistics: per-task score, seeded paired bootstrap against the baseline, flaky tasks.

Pure functions over plain values, so they are tested with fixed inputs and give the same answer for the same seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BootstrapResult", "is_flaky", "paired_bootstrap", "percentile", "task_score"]


def task_score(task: Mapping[str, Any], *, use_judge: bool) -> float:
    """One number per task for comparing runs: the share of its assertions that held, averaged with its judge
    score when the judge scored it (and counts). A task that could not be run scores 0."""
    if task.get("error"):
        return 0.0
    parts = [float(task.get("assertion_pass_rate", 0.0))]
    judge = task.get("judge") or {}
    if use_judge and judge.get("score") is not None:
        parts.append(float(judge["score"]))
    return sum(parts) / len(parts)


def is_flaky(epoch_scores: Sequence[float], threshold: float) -> bool:
    """Flaky: the judge's epochs fall on both sides of the task's threshold (some pass it, some do not)."""
    return any(score >= threshold for score in epoch_scores) and any(score < threshold for score in epoch_scores)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, linear between the closest ranks."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = q * (len(sorted_values) - 1)
    low, high = math.floor(position), math.ceil(position)
    weight = position - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


@dataclass(frozen=True)
class BootstrapResult:
    n: int
    mean_delta: float
    lower: float
    upper: float
    confidence: float
    resamples: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean_delta": round(self.mean_delta, 6),
            "lower": round(self.lower, 6),
            "upper": round(self.upper, 6),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
        }


def paired_bootstrap(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 16,
) -> BootstrapResult:
    """Percentile CI of mean(candidate - baseline) over the tasks both sides scored, resampling tasks with
    replacement (the pairs stay together). Seeded: the same inputs and seed give the same interval.
    """
    shared = sorted(set(candidate) & set(baseline))
    if not shared:
        raise ValueError("no task is scored on both sides")
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError("resamples must be >= 1 and confidence in (0, 1)")
    deltas = [candidate[task] - baseline[task] for task in shared]
    rng = random.Random(seed)
    n = len(deltas)
    means = sorted(sum(deltas[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return BootstrapResult(
        n=n,
        mean_delta=sum(deltas) / n,
        lower=percentile(means, tail),
        upper=percentile(means, 1 - tail),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
