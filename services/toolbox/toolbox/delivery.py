"""Replies that misbehave on purpose: held after the effect, or never sent (the connection closed instead).

Closing a connection without a byte of reply is not something ASGI can say, so `RawReceiveMiddleware` (outermost)
keeps the server's own `receive` in the scope; with uvicorn it is a method of the request's cycle, which holds the
socket's transport. Under another server the fallback sends the status line and half the body, then cuts it.
"""

from __future__ import annotations

import logging

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ClosedConnection", "RawReceiveMiddleware", "hold"]

_log = logging.getLogger("toolbox")
_RAW_RECEIVE = "toolbox.raw_receive"


class RawReceiveMiddleware:
    """Keeps the server's `receive` in the scope, for `ClosedConnection`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_RAW_RECEIVE] = receive
        await self.app(scope, receive, send)


async def hold(request: Request, seconds: float) -> None:
    """Wait until the client disconnects or `seconds` pass, whichever is first."""
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            continue


class ClosedConnection(Response):
    """No reply at all: the connection is closed (a crash after the effect, before the answer)."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=502)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get(_RAW_RECEIVE)
        transport = getattr(getattr(raw, "__self__", None), "transport", None)
        if raw is None or transport is None or not hasattr(transport, "close"):
            _log.warning("after_effect=close: no transport to close; cutting the response instead")
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-length", b"64")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            return
        _log.info("after_effect=close: closing the connection without a reply")
        transport.close()
        # The server notices on its next loop turn; once it has, returning without a response is not an error.
        with anyio.move_on_after(2):
            while (await raw())["type"] != "http.disconnect":
                continue
