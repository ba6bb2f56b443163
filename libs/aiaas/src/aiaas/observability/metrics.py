"""Shared Prometheus metrics (defined once here) and the `/metrics` endpoint."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from starlette.responses import Response

__all__ = [
    "mount_metrics",
    "EVENTS_PUBLISHED",
    "EVENTS_CONSUMED",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_TO_OUTBOX",
    "CONSUMER_PENDING",
    "OUTBOX_PENDING",
    "BREAKER_STATE",
]

EVENTS_PUBLISHED = Counter("events_published_total", "Events acked by JetStream", ["stream", "type"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled and acked", ["stream", "consumer"])
EVENTS_DEAD_LETTERED = Counter("events_dead_lettered_total", "Events moved to the DLQ", ["stream", "consumer"])
EVENTS_TO_OUTBOX = Counter("events_to_outbox_total", "Events parked in the outbox (NATS down)", ["type"])
CONSUMER_PENDING = Gauge("consumer_pending_messages", "Unprocessed + unacked messages (lag)",
                         ["stream", "consumer"])
OUTBOX_PENDING = Gauge("outbox_pending_rows", "Outbox rows not yet relayed")
BREAKER_STATE = Gauge("circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["key"])


def mount_metrics(app: FastAPI) -> None:
    """Add `GET /metrics` (Prometheus text format, default registry)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
