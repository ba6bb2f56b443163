"""Realtime settings (env prefix `REALTIME_`); infrastructure URLs are shared."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.settings import ServiceSettings

__all__ = ["RealtimeSettings"]


class RealtimeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "realtime"
    # Spans per socket message, reply and gateway call (traceparent goes to the gateway); OTEL_TRACES_EXPORTER.
    tracing: bool = True
    # The gateway every reply comes from, called with the client's own API key.
    gateway_url: str = "http://127.0.0.1:8080"
    gateway_connect_timeout_s: float = 5.0
    # Longest silence between two chunks of a streamed reply before it fails with `gateway_timeout`.
    gateway_read_timeout_s: float = 120.0
    # Idle pooled gateway connections are dropped after this; keep it below the gateway's keep-alive
    # (uvicorn: 5 s), or a POST goes out on a connection the gateway just closed.
    gateway_keepalive_s: float = 2.0
    auth_cache_ttl_s: float = 5.0

    # A text frame above this many UTF-8 bytes gets an `error` event (frame_too_large); the socket stays open.
    max_frame_bytes: int = Field(32_768, ge=1024)
    # Hard transport limit: a frame above it is refused by the WebSocket layer with close 1009.
    ws_max_size: int = Field(1_048_576, ge=1024)
    # Backpressure: events queued for one socket (after coalescing deltas) before close 4008.
    send_queue_max_items: int = Field(512, ge=8)
    send_queue_max_bytes: int = Field(1_048_576, ge=4096)
    # How long a closing slow socket gets to take its close frame before it is dropped.
    slow_close_timeout_s: float = 30.0
    # Kernel send buffer of accepted sockets (0 = kernel default, autotuned): bounds per-socket kernel memory.
    socket_send_buffer_bytes: int = Field(0, ge=0)
    # A client that sends nothing (not even `ping`) for this long is closed with 4000.
    idle_timeout_s: float = Field(60.0, gt=0)
    # permessage-deflate: off by default, because each compressing socket holds ~300 KiB of zlib state
    # (10,000 sockets would need ~3 GiB); deltas are small, so compression saves little.
    ws_per_message_deflate: bool = False
    # Protocol-level pings from the server (dead TCP peers), seconds; 0 disables.
    ws_ping_interval_s: float = 20.0

    # Per-tenant concurrent sockets across all instances; entries expire unless refreshed (crashed instances).
    max_connections_per_tenant: int = Field(100, ge=1)
    connection_ttl_s: float = Field(30.0, ge=3)
    # Conversations one socket may follow at once, and replies streaming in this process at once.
    max_conversations_per_connection: int = Field(16, ge=1)
    max_inflight_responses: int = Field(1000, ge=1)

    # Deltas are written to Postgres in batches: every this many deltas or milliseconds, and at the end.
    persist_batch_size: int = Field(32, ge=1)
    persist_interval_ms: float = Field(250.0, ge=1)
    # Redis live log per conversation: approximate length cap and idle expiry.
    live_log_maxlen: int = Field(10_000, ge=100)
    live_ttl_s: int = Field(86_400, ge=60)
    # In-flight marker of a reply: expires unless its producer refreshes it (a crashed producer frees it).
    inflight_ttl_s: int = Field(60, ge=5)
    # On SIGTERM, replies still streaming get this long to finish before they are marked interrupted.
    drain_timeout_s: float = 20.0

    # Core NATS subject prefix of tenant notices: `<prefix>.<tenant_id>`.
    broadcast_subject_prefix: str = "realtime.broadcast"

    # Connection tickets (POST /v1/realtime/sessions): lifetime, and how often expired ones are deleted (0 = never).
    ticket_ttl_s: float = Field(60.0, ge=1, le=3600)
    ticket_purge_interval_s: float = Field(60.0, ge=0)
    # The WebSocket URL clients reach (e.g. wss://api.example.com/v1/realtime/ws) for the ticket's `url`;
    # empty = the scheme and host of the ticket request.
    public_ws_url: str = ""
