"""Gateway Prometheus metrics (exposed on /metrics with the shared ones from aiaas)."""

from __future__ import annotations

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
