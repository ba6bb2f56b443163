"""Prometheus metrics of the realtime service (served on `REALTIME_METRICS_PORT`, never on the WebSocket port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from realtime.tickets.schemas import REFUSAL_REASONS

__all__ = [
    "WS_ACTIVE",
    "WS_BACKPRESSURE_DROPS",
    "WS_CLOSES",
    "WS_MESSAGES_IN",
    "WS_MESSAGES_OUT",
    "WS_SEND_QUEUE_DEPTH",
    "RESPONSES",
    "TICKETS_ISSUED",
    "TICKET_REFUSALS",
]

WS_ACTIVE = Gauge("ws_active_connections", "Open WebSocket connections in this process")
WS_BACKPRESSURE_DROPS = Counter(
    "ws_backpressure_drops_total", "Delta events merged into a queued delta because the client read too slowly"
)
WS_CLOSES = Counter("ws_closes_total", "Connections closed by the server, by close code", ["code"])
WS_MESSAGES_IN = Counter("ws_messages_in_total", "Client frames received, by type (invalid = rejected)", ["type"])
WS_MESSAGES_OUT = Counter("ws_messages_out_total", "Server events sent, by type", ["type"])
WS_SEND_QUEUE_DEPTH = Histogram(
    "ws_send_queue_depth",
    "Events waiting in a connection's send queue, observed at every enqueue",
    buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
RESPONSES = Counter("realtime_responses_total", "Replies streamed from the gateway, by outcome", ["outcome"])
TICKETS_ISSUED = Counter("realtime_tickets_issued_total", "Connection tickets issued (POST /v1/realtime/sessions)")
TICKET_REFUSALS = Counter(
    "realtime_ticket_refusals_total", "WebSocket handshakes refused for their ticket, by reason", ["reason"]
)
for _reason in REFUSAL_REASONS:  # a closed set, exported at 0 from the start
    TICKET_REFUSALS.labels(reason=_reason)
