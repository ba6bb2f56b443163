"""The socket guard of EXACT replay: any connect attempted while it is active fails, and is counted.

Patches the places every client in this process connects through: `socket.socket.connect`/`connect_ex` (blocking
clients, and asyncio's `sock_connect`), and asyncio's `create_connection`/`create_unix_connection`/
`create_datagram_endpoint` (asyncpg, aiohttp, httpx, nats-py). A replay that reaches the network therefore fails
where it tried, and `attempts` says how many times it tried even if some caller swallowed the error.
"""

from __future__ import annotations

import asyncio.base_events
import socket
from types import TracebackType
from typing import Any

__all__ = ["NetworkDuringReplay", "SocketGuard"]


class NetworkDuringReplay(ConnectionRefusedError):
    """A connect attempted during EXACT replay."""


class SocketGuard:
    """`with SocketGuard() as guard: ...` then `guard.attempts` (the addresses asked for, in order)."""

    _SOCKET = ("connect", "connect_ex")
    _LOOP = ("create_connection", "create_unix_connection", "create_datagram_endpoint")

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._saved: list[tuple[type, str, Any]] = []

    def _refuse(self, what: str, target: Any) -> NetworkDuringReplay:
        self.attempts.append(f"{what} {target!r}"[:200])
        return NetworkDuringReplay(f"EXACT replay opened no network connection: {what} {target!r}"[:300])

    def __enter__(self) -> SocketGuard:
        guard = self

        def blocking(name: str) -> Any:
            def refused(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG001
                raise guard._refuse(f"socket.{name}", address)

            return refused

        def looped(name: str) -> Any:
            async def refused(loop: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG001
                raise guard._refuse(f"loop.{name}", args[1:3] if len(args) > 1 else kwargs.get("path"))

            return refused

        for name in self._SOCKET:
            self._saved.append((socket.socket, name, getattr(socket.socket, name)))
            setattr(socket.socket, name, blocking(name))
        for name in self._LOOP:
            base = asyncio.base_events.BaseEventLoop
            self._saved.append((base, name, getattr(base, name)))
            setattr(base, name, looped(name))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            setattr(owner, name, original)
