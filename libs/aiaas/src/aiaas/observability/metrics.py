"""Shared Prometheus metrics (defined once here, imported everywhere) and the metrics listener.

Metrics are served on a listener of their own (`serve_metrics`, `<PREFIX>_METRICS_PORT`), never on a
tenant-facing port: series say how the platform runs, which is not tenants' business. For the same
reason, and to keep the number of series bounded, no label carries a tenant, an API key or a value a
request chose (a model label holds a configured alias or "other"); per-tenant numbers live in analytics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter, Gauge, start_http_server

from aiaas.resilience.breaker import BreakerState

__all__ = [
    "serve_metrics",
    "record_breaker_state",
    "EVENTS_PUBLISHED",
    "EVENTS_CONSUMED",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_TO_OUTBOX",
    "CONSUMER_PENDING",
    "OUTBOX_PENDING",
    "BREAKER_STATE",
]

_log = logging.getLogger(__name__)

EVENTS_PUBLISHED = Counter("events_published_total", "Events acked by JetStream", ["stream", "type"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled and acked", ["stream", "consumer"])
EVENTS_DEAD_LETTERED = Counter("events_dead_lettered_total", "Events moved to the DLQ", ["stream", "consumer"])
EVENTS_TO_OUTBOX = Counter("events_to_outbox_total", "Events parked in the outbox (NATS down)", ["type"])
CONSUMER_PENDING = Gauge("consumer_pending_messages", "Unprocessed + unacked messages (lag)", ["stream", "consumer"])
OUTBOX_PENDING = Gauge("outbox_pending_rows", "Outbox rows not yet relayed")
BREAKER_STATE = Gauge("circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["key"])


def record_breaker_state(key: str, _old: BreakerState, new: BreakerState) -> None:
    """`BreakerRegistry(on_state_change=...)` callback that keeps BREAKER_STATE current."""
    BREAKER_STATE.labels(key=key).set(new.value)


def serve_metrics(port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """Serve the default registry on `host:port` (any path; text or OpenMetrics by Accept) from a thread.

    Port 0 serves nothing. Returns the function that stops the listener. A port in use raises OSError:
    a process whose metrics cannot be scraped should not start.
    """
    if not port:
        return lambda: None
    server, thread = start_http_server(port, addr=host)
    _log.info("metrics on http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
