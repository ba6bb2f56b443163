"""`python -m realtime --host 0.0.0.0 --port 8085` runs the WebSocket service."""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn

from realtime.config import RealtimeSettings


def _listen(host: str, port: int, send_buffer: int) -> socket.socket:
    """The listening socket; accepted sockets inherit its send buffer (a fixed size disables autotuning)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    args = parser.parse_args(argv)
    settings = RealtimeSettings()
    config = uvicorn.Config(
        "realtime.app:create_app",
        factory=True,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_size,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_ping_interval=settings.ws_ping_interval_s or None,
        ws_ping_timeout=settings.ws_ping_interval_s or None,
        access_log=False,
        # Client addresses are not used; without the proxy-headers middleware each open socket keeps one frame less.
        proxy_headers=False,
        # Each handshake response is kept by the server for the socket's life: no Server/Date headers in it.
        server_header=False,
        date_header=False,
        log_config=None,
        # Sockets get 1012 at once; this bounds the wait for handlers before lifespan drains replies.
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[_listen(args.host, args.port, settings.socket_send_buffer_bytes)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
