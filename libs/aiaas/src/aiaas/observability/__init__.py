"""Logs (JSON with trace ids), Prometheus metrics, OpenTelemetry traces across HTTP and NATS."""

from aiaas.observability.logging import configure_logging
from aiaas.observability.metrics import mount_metrics
from aiaas.observability.tracing import (
    current_trace_ids,
    extract_trace_context,
    get_memory_exporter,
    inject_trace_headers,
    instrument_fastapi,
    setup_tracing,
)

__all__ = [
    "configure_logging",
    "current_trace_ids",
    "extract_trace_context",
    "get_memory_exporter",
    "inject_trace_headers",
    "instrument_fastapi",
    "mount_metrics",
    "setup_tracing",
]
