"""Gateway Prometheus metrics, served with the shared ones from aiaas on `GATEWAY_METRICS_PORT`.

No tenant or key labels (per-tenant traffic is analytics' business, and 100k tenants would be 100k
series); `model` is a configured alias, never a name taken from the request.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Histogram

__all__ = [
    "REQUESTS",
    "REQUEST_LATENCY",
    "TTFT",
    "UPSTREAM_ATTEMPTS",
    "UPSTREAM_LATENCY",
    "RATE_LIMIT_REJECTIONS",
    "RATE_LIMIT_BYPASSED",
    "USAGE_EVENTS",
    "request_series",
    "ttft_series",
    "upstream_series",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUESTS = Counter("gateway_requests_total", "Chat requests by outcome", ["model", "status"])
REQUEST_LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Chat request latency",
    ["model", "status"],
    buckets=_LATENCY_BUCKETS,
)
TTFT = Histogram("gateway_ttft_seconds", "Time to first streamed token", ["model"], buckets=_LATENCY_BUCKETS)
UPSTREAM_ATTEMPTS = Counter("gateway_upstream_attempts_total", "Upstream calls", ["deployment", "outcome"])
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_duration_seconds",
    "Upstream call latency (to response or first event)",
    ["deployment"],
    buckets=_LATENCY_BUCKETS,
)
RATE_LIMIT_REJECTIONS = Counter("gateway_rate_limit_rejections_total", "429s from limits", ["limit"])
RATE_LIMIT_BYPASSED = Counter("gateway_rate_limit_bypassed_total", "Requests admitted while Redis was down")
USAGE_EVENTS = Counter("gateway_usage_events_total", "Usage events by where they were made durable", ["status"])


# Children looked up once per label set: `labels()` takes a lock and builds a key on every call. The
# caches hold what the metrics themselves keep (one child per label set), so they add no cardinality.


@cache
def request_series(model: str, status: str) -> tuple[Counter, Histogram]:
    """REQUESTS and REQUEST_LATENCY for one (model alias, status)."""
    return REQUESTS.labels(model=model, status=status), REQUEST_LATENCY.labels(model=model, status=status)


@cache
def ttft_series(model: str) -> Histogram:
    return TTFT.labels(model=model)


@cache
def upstream_series(deployment: str, outcome: str) -> tuple[Counter, Histogram]:
    """UPSTREAM_ATTEMPTS and UPSTREAM_LATENCY for one deployment and outcome."""
    return UPSTREAM_ATTEMPTS.labels(deployment=deployment, outcome=outcome), UPSTREAM_LATENCY.labels(
        deployment=deployment
    )
