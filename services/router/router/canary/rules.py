"""The canary's statistics, pure: one-sided two-proportion z-tests and the verdict over a window.

For each rate (misroutes, errors, slow decisions) the null hypothesis is "the canary is no worse than the stable
version plus `margin`": p_canary - p_stable <= margin. With x events in n decisions per arm, the test uses the
Agresti-Caffo adjusted rates q = (x + 1) / (n + 2) (one event and one non-event added to each arm, so it stays
defined and sensible at 0 or n events):

    z = (q_c - min(q_s + margin, 1)) / sqrt(q_c(1-q_c)/(n_c+2) + q_s(1-q_s)/(n_s+2))

and the one-sided p-value is P(Z >= z) = erfc(z / sqrt 2) / 2. A rate is *worse* when the observed difference
x_c/n_c - x_s/n_s exceeds the margin, p < alpha, and both arms have at least `min_decisions`. Properties
(services/router/tests/test_canary_rules.py): z never decreases as the canary's events grow; a canary whose rate is
at most the stable's plus the margin is never worse.

Latency is tested the same way as a proportion: the share of decisions slower than the stable arm's p95 times
(1 + latency_margin) (plus `latency_floor_ms`), canary against stable.

Verdict: any worse rate -> rollback; otherwise, once the canary has run a whole window and both arms have their
minimum, promote; otherwise wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from aiaas.events.schemas import CanaryComparison, CanaryLatency

__all__ = [
    "Z_CLAMP",
    "Thresholds",
    "ArmCounts",
    "ProportionTest",
    "Verdict",
    "z_test",
    "compare",
    "slow_threshold",
    "verdict",
]

Z_CLAMP = 99.0
Metric = Literal["misroute_rate", "error_rate", "slow_rate"]


@dataclass(frozen=True)
class Thresholds:
    """How sure and how much worse before a rollback; how much data before any verdict."""

    alpha: float = 0.01
    misroute_margin: float = 0.02
    error_margin: float = 0.01
    slow_margin: float = 0.05
    latency_margin: float = 0.5
    latency_floor_ms: float = 1.0
    min_decisions: int = 50

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError("alpha must lie in (0, 0.5)")
        if min(self.misroute_margin, self.error_margin, self.slow_margin, self.latency_margin) < 0:
            raise ValueError("margins must be >= 0")
        if self.min_decisions < 1:
            raise ValueError("min_decisions must be >= 1")

    def margin(self, metric: Metric) -> float:
        return {"misroute_rate": self.misroute_margin, "error_rate": self.error_margin, "slow_rate": self.slow_margin}[
            metric
        ]


@dataclass(frozen=True)
class ArmCounts:
    """One arm (canary or stable) over the window: decisions, misroutes, errors, slow ones among the timed."""

    n: int
    misroutes: int
    errors: int
    timed: int = 0
    slow: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    def __post_init__(self) -> None:
        if self.n < 0 or not 0 <= self.misroutes <= self.n or not 0 <= self.errors <= self.n:
            raise ValueError("counts must satisfy 0 <= events <= n")
        if not 0 <= self.slow <= self.timed <= self.n:
            raise ValueError("counts must satisfy 0 <= slow <= timed <= n")


@dataclass(frozen=True)
class ProportionTest:
    z: float
    p_value: float


def _rate(events: int, n: int) -> float:
    return events / n if n else 0.0


def z_test(x_canary: int, n_canary: int, x_stable: int, n_stable: int, margin: float = 0.0) -> ProportionTest:
    """One-sided test of H0: rate_canary - rate_stable <= margin (see the module docstring)."""
    if n_canary <= 0 or n_stable <= 0:
        return ProportionTest(z=0.0, p_value=1.0)
    m_c, m_s = n_canary + 2, n_stable + 2
    q_c, q_s = (x_canary + 1) / m_c, (x_stable + 1) / m_s
    se = math.sqrt(q_c * (1 - q_c) / m_c + q_s * (1 - q_s) / m_s)
    z = max(-Z_CLAMP, min(Z_CLAMP, (q_c - min(q_s + margin, 1.0)) / se))
    return ProportionTest(z=z, p_value=0.5 * math.erfc(z / math.sqrt(2.0)))


def compare(
    metric: Metric, x_canary: int, n_canary: int, x_stable: int, n_stable: int, thresholds: Thresholds
) -> CanaryComparison:
    margin = thresholds.margin(metric)
    test = z_test(x_canary, n_canary, x_stable, n_stable, margin)
    enough = n_canary >= thresholds.min_decisions and n_stable >= thresholds.min_decisions
    return CanaryComparison(
        metric=metric,
        canary_events=x_canary,
        canary_n=n_canary,
        stable_events=x_stable,
        stable_n=n_stable,
        canary_rate=_rate(x_canary, n_canary),
        stable_rate=_rate(x_stable, n_stable),
        margin=margin,
        z=test.z,
        p_value=test.p_value,
        worse=enough
        and _rate(x_canary, n_canary) - _rate(x_stable, n_stable) > margin
        and test.p_value < thresholds.alpha,
    )


def slow_threshold(stable_p95_ms: float | None, thresholds: Thresholds) -> float | None:
    """A decision is slow above the stable arm's p95 x (1 + latency_margin) + latency_floor_ms."""
    if stable_p95_ms is None:
        return None
    return stable_p95_ms * (1.0 + thresholds.latency_margin) + thresholds.latency_floor_ms


@dataclass(frozen=True)
class Verdict:
    action: Literal["rollback", "promote", "wait"]
    reason: str
    comparisons: list[CanaryComparison]
    latency: CanaryLatency


def verdict(
    canary: ArmCounts,
    stable: ArmCounts,
    *,
    threshold_ms: float | None,
    full_window: bool,
    thresholds: Thresholds,
) -> Verdict:
    """Roll back on any worse rate; promote after a full window with enough data and none worse; else wait.

    `slow` of both arms counts decisions above `threshold_ms` (`slow_threshold` of the stable arm's p95).
    """
    comparisons = [
        compare("misroute_rate", canary.misroutes, canary.n, stable.misroutes, stable.n, thresholds),
        compare("error_rate", canary.errors, canary.n, stable.errors, stable.n, thresholds),
        compare("slow_rate", canary.slow, canary.timed, stable.slow, stable.timed, thresholds),
    ]
    latency = CanaryLatency(
        canary_p50_ms=canary.p50_ms,
        canary_p95_ms=canary.p95_ms,
        stable_p50_ms=stable.p50_ms,
        stable_p95_ms=stable.p95_ms,
        threshold_ms=threshold_ms,
    )
    worse = [c for c in comparisons if c.worse]
    if worse:
        reason = "; ".join(
            f"{c.metric} {c.canary_rate:.3f} (n {c.canary_n}) vs stable {c.stable_rate:.3f} (n {c.stable_n}),"
            f" margin {c.margin:g}, z {c.z:.2f}, p {c.p_value:.2g}"
            for c in worse
        )
        return Verdict("rollback", f"worse than stable: {reason}", comparisons, latency)
    enough = canary.n >= thresholds.min_decisions and stable.n >= thresholds.min_decisions
    if full_window and enough:
        return Verdict(
            "promote",
            f"a full window passed: no rate worse than stable at alpha {thresholds.alpha:g}"
            f" (canary n {canary.n}, stable n {stable.n})",
            comparisons,
            latency,
        )
    missing = "a full window" if enough else f"{thresholds.min_decisions} decisions per arm"
    return Verdict("wait", f"waiting for {missing}", comparisons, latency)
