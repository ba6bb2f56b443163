"""An HTTP protocol for uvicorn whose responses leave in one write when the app sends head and body at once.

uvicorn's httptools protocol writes a response's head and its body separately: two segments, so a keep-alive
client's reader wakes twice and the server pays two send calls. A service on a latency budget (the router's
decide, called by the gateway on every `model: "auto"` request) passes `http=CoalescingHttpProtocol` to
`aiaas.serve.run_service`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpProtocol", "HeadWithBody"]


class HeadWithBody:
    """A transport that holds a response head until the body's first write and sends both in one write.

    uvicorn writes a response's head and body separately: two segments, so the gateway's reader of a decide reply
    wakes twice and the router pays two send calls (~0.5 ms of wall time per decision on the shared core). A held
    head goes out with the next write, or on its own at the loop's next turn (a HEAD reply, an interim 100).
    """

    __slots__ = ("_transport", "_held", "_flush")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._release()
            self._transport.write(held + data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._held = data
            self._flush = asyncio.get_running_loop().call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._release()
            self._transport.write(held)

    def _release(self) -> None:
        self._held = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._release()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write when the app sends head and body at once."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadWithBody(transport))  # type: ignore[arg-type]
