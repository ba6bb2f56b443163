"""Gateway Prometheus metrics (exposed on /metrics with the shared ones from aiaas)."""

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

REQUESTS = Counter("gateway_requests_total", "Chat requests by outcome", ["tenant", "model", "status"])
REQUEST_LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Chat request latency",
    ["tenant", "model", "status"],
    buckets=_LATENCY_BUCKETS,
)
TTFT = Histogram("gateway_ttft_seconds", "Time to first streamed token", ["tenant", "model"], buckets=_LATENCY_BUCKETS)
UPSTREAM_ATTEMPTS = Counter("gateway_upstream_attempts_total", "Upstream calls", ["deployment", "outcome"])
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_duration_seconds",
    "Upstream call latency (to response or first event)",
    ["deployment"],
    buckets=_LATENCY_BUCKETS,
)
RATE_LIMIT_REJECTIONS = Counter("gateway_rate_limit_rejections_total", "429s from limits", ["tenant", "limit"])
RATE_LIMIT_BYPASSED = Counter("gateway_rate_limit_bypassed_total", "Requests admitted while Redis was down", ["tenant"])
USAGE_EVENTS = Counter("gateway_usage_events_total", "Usage events by where they were made durable", ["status"])


# Children looked up once per label set: `labels()` takes a lock and builds a key on every call. The
# caches hold what the metrics themselves keep (one child per label set), so they add no cardinality.


@cache
def request_series(tenant: str, model: str, status: str) -> tuple[Counter, Histogram]:
    """REQUESTS and REQUEST_LATENCY for one (tenant, model, status)."""
    return REQUESTS.labels(tenant=tenant, model=model, status=status), REQUEST_LATENCY.labels(
        tenant=tenant, model=model, status=status
    )


@cache
def ttft_series(tenant: str, model: str) -> Histogram:
    return TTFT.labels(tenant=tenant, model=model)


@cache
def upstream_series(deployment: str, outcome: str) -> tuple[Counter, Histogram]:
    """UPSTREAM_ATTEMPTS and UPSTREAM_LATENCY for one deployment and outcome."""
    return UPSTREAM_ATTEMPTS.labels(deployment=deployment, outcome=outcome), UPSTREAM_LATENCY.labels(
        deployment=deployment
    )
