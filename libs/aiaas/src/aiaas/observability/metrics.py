"""Shared Prometheus metrics (defined once here, imported everywhere) and the `/metrics` endpoint."""

from __future__ import annotations

from fastapi import FastAPI, Request
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response

from aiaas.resilience.breaker import BreakerState

__all__ = [
    "mount_metrics",
    "record_breaker_state",
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
CONSUMER_PENDING = Gauge("consumer_pending_messages", "Unprocessed + unacked messages (lag)", ["stream", "consumer"])
OUTBOX_PENDING = Gauge("outbox_pending_rows", "Outbox rows not yet relayed")
BREAKER_STATE = Gauge("circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["key"])


def record_breaker_state(key: str, _old: BreakerState, new: BreakerState) -> None:
    """`BreakerRegistry(on_state_change=...)` callback that keeps BREAKER_STATE current."""
    BREAKER_STATE.labels(key=key).set(new.value)


def mount_metrics(app: FastAPI, path: str = "/metrics") -> None:
    """Add `GET /metrics`: the default registry in the format the scraper's Accept header asks for."""

    @app.get(path, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(REGISTRY), headers={"Content-Type": content_type})
