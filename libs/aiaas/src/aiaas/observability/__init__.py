"""Logs (JSON with trace ids), Prometheus metrics, OpenTelemetry traces across HTTP and NATS."""

from aiaas.observability.logging import JsonFormatter, configure_logging
from aiaas.observability.metrics import (
    BREAKER_STATE,
    CONSUMER_PENDING,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_PUBLISHED,
    EVENTS_TO_OUTBOX,
    OUTBOX_PENDING,
    record_breaker_state,
    serve_metrics,
)
from aiaas.observability.tracing import (
    current_trace_ids,
    extract_trace_context,
    get_memory_exporter,
    inject_trace_headers,
    instrument_fastapi,
    setup_tracing,
)

__all__ = [
    "BREAKER_STATE",
    "CONSUMER_PENDING",
    "EVENTS_CONSUMED",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_PUBLISHED",
    "EVENTS_TO_OUTBOX",
    "OUTBOX_PENDING",
    "JsonFormatter",
    "configure_logging",
    "current_trace_ids",
    "extract_trace_context",
    "get_memory_exporter",
    "inject_trace_headers",
    "instrument_fastapi",
    "record_breaker_state",
    "serve_metrics",
    "setup_tracing",
]
