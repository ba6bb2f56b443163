"""`python -m realtime --host 0.0.0.0 --port 8085` runs the WebSocket service."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aiaas.serve import run_service
from realtime.config import RealtimeSettings


def main(argv: Sequence[str] | None = None) -> int:
    settings = RealtimeSettings()
    code: int = run_service(
        "python -m realtime",
        "realtime.app:create_app",
        port=8085,
        argv=argv,
        # Accepted sockets inherit the listener's send buffer (a fixed size bounds per-socket kernel memory).
        send_buffer=settings.socket_send_buffer_bytes,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_size,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_ping_interval=settings.ws_ping_interval_s or None,
        ws_ping_timeout=settings.ws_ping_interval_s or None,
        # Client addresses are not used; without the proxy-headers middleware each open socket keeps one frame less.
        proxy_headers=False,
        # Each handshake response is kept by the server for the socket's life: no Server/Date headers in it.
        server_header=False,
        date_header=False,
        # Sockets get 1012 at once; this bounds the wait for handlers before lifespan drains replies.
        timeout_graceful_shutdown=10,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
