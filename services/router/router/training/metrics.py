"""Router metrics on a test set: quality curves, CPT, APGR, random and oracle baselines, RouterBench cost.

A two-tier router with a score per prompt (higher = more in need of the strong model) sends the prompts above a
threshold to the strong tier. Thresholds can only fall between distinct scores (ties move together), so the
curve has one point per distinct score, from 0 % to 100 % strong calls. With `cheap_q`/`strong_q` each tier's
quality per prompt (correctness 0/1, or MT-Bench's judge score):

- quality(s) = mean over prompts of strong_q where routed strong, else cheap_q;
- CPT(95 %) = the smallest share of strong calls whose quality reaches 95 % of the strong-only quality
  (as in the issue's table; RouteLLM reports CPT against the weak-strong gap instead);
- APGR = (area under quality(s) - weak-only area) / (strong-only area - weak-only area), trapezoids over s;
- random: quality is linear in s, so CPT_random = (0.95 S - W) / (S - W) and APGR_random = 0.5;
- oracle: score = strong_q - cheap_q (the true gain), ties split (RouteLLM's optimal accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Curve", "curve", "cpt", "apgr", "random_baseline", "benchmark_report", "routerbench_sweep"]


@dataclass(frozen=True)
class Curve:
    """Strong-call shares (ascending, from 0 to 1) and the quality at each."""

    shares: np.ndarray
    quality: np.ndarray


def curve(
    scores: Sequence[float] | np.ndarray, cheap_q: np.ndarray, strong_q: np.ndarray, split_ties: bool = False
) -> Curve:
    """The routing curve of `scores`: one point per threshold between distinct scores (every prompt when
    `split_ties`, which only the oracle may do: its tied prompts have equal gains)."""
    s = np.asarray(scores, dtype=np.float64)
    cheap = np.asarray(cheap_q, dtype=np.float64)
    strong = np.asarray(strong_q, dtype=np.float64)
    n = s.shape[0]
    order = np.argsort(-s, kind="stable")
    gain = (strong - cheap)[order]
    cumulative = np.concatenate([[0.0], np.cumsum(gain)])
    sorted_scores = s[order]
    # cut after position k (k prompts strong) only where the next score differs (or at the ends)
    cuts = [0] + [k for k in range(1, n) if split_ties or sorted_scores[k] != sorted_scores[k - 1]] + [n]
    cut = np.asarray(cuts, dtype=np.int64)
    base = float(cheap.sum())
    return Curve(shares=cut / n, quality=(base + cumulative[cut]) / n)


def cpt(c: Curve, strong_quality: float, target: float = 0.95) -> float:
    """Smallest share of strong calls whose quality reaches `target` x the strong-only quality."""
    goal = target * strong_quality - 1e-12
    reached = np.nonzero(c.quality >= goal)[0]
    return float(c.shares[reached[0]]) if reached.size else 1.0


def apgr(c: Curve, cheap_quality: float, strong_quality: float) -> float:
    """Average performance gap recovered: normalised area under the curve over shares 0..1."""
    area = float(np.sum((c.quality[1:] + c.quality[:-1]) / 2.0 * np.diff(c.shares)))
    return (area - cheap_quality) / (strong_quality - cheap_quality)


def random_baseline(cheap_quality: float, strong_quality: float, target: float = 0.95) -> dict[str, float]:
    """A coin with bias s: quality is linear in s."""
    share = (target * strong_quality - cheap_quality) / (strong_quality - cheap_quality)
    return {"cpt95": float(min(1.0, max(0.0, share))), "apgr": 0.5}


def benchmark_report(
    methods: Mapping[str, np.ndarray], cheap_q: np.ndarray, strong_q: np.ndarray, target: float = 0.95
) -> dict[str, Any]:
    """CPT and APGR of every scoring method plus the random and oracle baselines, on one test set."""
    cheap = np.asarray(cheap_q, dtype=np.float64)
    strong = np.asarray(strong_q, dtype=np.float64)
    w, s = float(cheap.mean()), float(strong.mean())
    report: dict[str, Any] = {
        "n": int(cheap.shape[0]),
        "cheap_quality": round(w, 4),
        "strong_quality": round(s, 4),
        "random": {k: round(v, 4) for k, v in random_baseline(w, s, target).items()},
    }
    oracle = curve(strong - cheap, cheap, strong, split_ties=True)
    report["oracle"] = {"cpt95": round(cpt(oracle, s, target), 4), "apgr": round(apgr(oracle, w, s), 4)}
    for name, scores in methods.items():
        c = curve(scores, cheap, strong)
        report[name] = {"cpt95": round(cpt(c, s, target), 4), "apgr": round(apgr(c, w, s), 4)}
    return report


def routerbench_sweep(
    p_success: np.ndarray, expected_cost: np.ndarray, scores: np.ndarray, costs: np.ndarray, lambdas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per λ: pick argmax_m p[i, m] - cost[m] / λ ... expressed as argmin expected_cost + λ (1 - p);
    returns (accuracy per λ, total cost per λ) measured with the true `scores` and `costs` (n x m)."""
    accuracy = np.empty(lambdas.shape[0])
    total = np.empty(lambdas.shape[0])
    rows = np.arange(p_success.shape[0])
    for i, lam in enumerate(lambdas):
        objective = expected_cost + lam * (1.0 - p_success)
        pick = np.argmin(objective, axis=1)
        accuracy[i] = float(scores[rows, pick].mean())
        total[i] = float(costs[rows, pick].sum())
    return accuracy, total
