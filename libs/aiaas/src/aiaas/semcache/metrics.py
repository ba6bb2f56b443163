"""Ranking metrics for the cache evaluation (pure Python, stdlib only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["precision_at_hit_rate", "precision_at_recall", "safe_threshold"]


def precision_at_hit_rate(scores: Sequence[float], correct: Sequence[bool], rate: float) -> float:
    """Precision of the top `ceil(rate * n)` queries by score (the hits a threshold giving that hit rate serves)."""
    if not 0.0 < rate <= 1.0:
        raise ValueError("rate must be in (0, 1]")
    if len(scores) != len(correct) or not scores:
        raise ValueError("scores and correct must be non-empty and of one length")
    take = max(1, math.ceil(rate * len(scores)))
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:take]
    return sum(1 for i in order if correct[i]) / take


def precision_at_recall(scores: Sequence[float], labels: Sequence[bool], recall: float) -> float:
    """Best precision among thresholds whose recall is at least `recall` (pairs ranked by score, ties together)."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels must be of one length")
    positives = sum(1 for y in labels if y)
    if positives == 0:
        raise ValueError("no positive labels")
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    best = 0.0
    tp = fp = 0
    for rank, i in enumerate(order):
        tp += int(labels[i])
        fp += int(not labels[i])
        last_of_tie = rank + 1 == len(order) or scores[order[rank + 1]] != scores[i]
        if last_of_tie and tp / positives >= recall:
            best = max(best, tp / (tp + fp))
    return best


def safe_threshold(negative_scores: Sequence[float], allowed: int) -> float:
    """Lowest threshold at which at most `allowed` of these negatives score >= it (just above the next one)."""
    ranked = sorted(negative_scores, reverse=True)
    if allowed >= len(ranked):
        return -1.0
    return math.nextafter(ranked[allowed], math.inf)
