"""Router Prometheus metrics, served on `ROUTER_METRICS_PORT` (API) and `ROUTER_CONSUMER_METRICS_PORT` (consumer).

No tenant label (the platform rule, tests/test_metrics_listeners.py): per-tenant tier shares are in
`router_decisions` (GET /v1/router/decisions). Labels hold tier names and reasons of the policies and
router versions, never request input.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DECISION_LATENCY",
    "TIER_DISTRIBUTION",
    "FALLBACKS",
    "EXPLORATIONS",
    "NOVEL",
    "REWARDS",
    "MISROUTES",
    "MISROUTE_RATE",
    "record_reward",
]

DECISION_LATENCY = Histogram(
    "router_decision_latency_ms",
    "Time one decision took in the router (ms)",
    ["reason"],
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 50, 100, 250, 1000),
)
TIER_DISTRIBUTION = Counter("router_tier_distribution", "Decisions by chosen tier and reason", ["tier", "reason"])
FALLBACKS = Counter("router_fallbacks", "Decisions the fallback table made, by cause", ["cause"])
EXPLORATIONS = Counter("router_explorations", "Decisions that explored (Thompson draws)", ["tier"])
NOVEL = Counter(
    "router_novel_requests", "Decisions on requests beyond ROUTER_NOVELTY_BAR (no early exit, weaker classifier prior)"
)
REWARDS = Counter(
    "router_rewards",
    "Signals the bandit counted: quality (feedback, usage errors, retries), latency-objective misses, cost ratios",
    ["version", "outcome", "source"],
)
MISROUTES = Counter("router_misroutes", "Failures of decisions that had a stronger allowed tier", ["version"])
MISROUTE_RATE = Gauge(
    "router_misroute_rate",
    "Per router version: misroutes / quality signals counted by this process (latency misses and costs are not)",
    ["version"],
)
_counted: dict[str, list[int]] = {}


def record_reward(version: str, outcome: str, source: str, *, misroute: bool, quality: bool = True) -> None:
    """Count one applied reward and, for a quality signal, refresh the version's misroute rate."""
    REWARDS.labels(version=version, outcome=outcome, source=source).inc()
    if not quality:
        return
    counts = _counted.setdefault(version, [0, 0])
    counts[1] += 1
    if misroute:
        counts[0] += 1
        MISROUTES.labels(version=version).inc()
    MISROUTE_RATE.labels(version=version).set(counts[0] / counts[1])
