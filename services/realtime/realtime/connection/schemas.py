"""The socket's path and close codes (the application codes are 4xxx; 1xxx are the WebSocket standard's)."""

from __future__ import annotations

__all__ = [
    "WS_PATH",
    "CLOSE_IDLE",
    "CLOSE_SLOW_CONSUMER",
    "CLOSE_FORBIDDEN",
    "CLOSE_UNAUTHORIZED",
    "CLOSE_TOO_MANY_CONNECTIONS",
    "CLOSE_DISABLED",
    "CLOSE_UNAVAILABLE",
]

WS_PATH = "/v1/realtime/ws"

# Nothing (not even `ping`) from the client for `idle_timeout_s`.
CLOSE_IDLE = 4000
# The client reads too slowly: its send queue passed its limits.
CLOSE_SLOW_CONSUMER = 4008
CLOSE_UNAUTHORIZED = 4401
# The key lacks the `realtime` scope, or a message named a conversation of another tenant.
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY_CONNECTIONS = 4429
# The platform switched realtime off for this tenant (control-plane flag `realtime_enabled`).
CLOSE_DISABLED = 4503
# Postgres or Redis failed during the handshake: retry.
CLOSE_UNAVAILABLE = 1011
