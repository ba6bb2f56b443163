"""`GET /v1/realtime/ws`: authenticate, admit under the tenant's connection limit, serve the socket.

Credentials, in order: `?ticket=` (from `POST /v1/realtime/sessions`, single use), the
`Authorization: Bearer` header, `?api_key=` (discouraged). A refused credential closes with 4401.

Served straight from ASGI (`RealtimeASGI`), not through FastAPI's router: its middleware and
dependency frames would stay alive for the socket's whole life, several KiB per idle socket.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from aiaas.errors import Forbidden, Unauthorized
from aiaas.scopes import REALTIME
from realtime.connection.schemas import (
    CLOSE_DISABLED,
    CLOSE_FORBIDDEN,
    CLOSE_TOO_MANY_CONNECTIONS,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNAVAILABLE,
    WS_PATH,
)
from realtime.connection.websocket import Connection
from realtime.metrics import TICKET_REFUSALS, WS_CLOSES
from realtime.state import RealtimeState, realtime_state
from realtime.tickets.schemas import TicketRefused

__all__ = ["RealtimeASGI", "admit"]

log = logging.getLogger(__name__)


class RealtimeASGI:
    """The socket path is admitted here and served by its `Connection`; everything else goes to the FastAPI app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            scope["app"] = self.app  # as the app itself would: its state is the lifespan's
            websocket = WebSocket(scope, receive, send)
            # Admission returns before the socket is served, so its frame does not live as long as the socket.
            conn = await admit(websocket, realtime_state(websocket))
            if conn is not None:
                await conn.serve()
            return
        await self.app(scope, receive, send)


async def _authorization(websocket: WebSocket, state: RealtimeState) -> str | None:
    """The key the socket acts as: the one a `?ticket=` was issued to, else `Authorization: Bearer <key>`,
    else `?api_key=<key>` (discouraged: the key stays in URLs; browsers should use tickets).

    A refused ticket raises `Unauthorized` (`invalid_ticket`) and is counted by reason.
    """
    ticket = websocket.query_params.get("ticket")
    if ticket is not None:
        try:
            redeemed = await state.tickets.redeem(ticket)
        except TicketRefused as exc:
            TICKET_REFUSALS.labels(reason=exc.reason).inc()
            # One message for every reason: a caller learns nothing about tickets it does not hold.
            raise Unauthorized("Unknown, used or expired ticket; create a new one.", code="invalid_ticket") from None
        return f"Bearer {redeemed.api_key}"
    header = websocket.headers.get("authorization")
    if header:
        return header
    key = websocket.query_params.get("api_key")
    return f"Bearer {key}" if key else None


async def _reject(websocket: WebSocket, code: int, reason: str) -> None:
    WS_CLOSES.labels(code=str(code)).inc()
    await websocket.close(code, reason[:120])


async def admit(websocket: WebSocket, state: RealtimeState) -> Connection | None:
    """Accept, authenticate and count the socket against its tenant's limit; None when it was refused."""
    # Accept first: a close code (4401, 4429) can only be sent on an open socket.
    await websocket.accept()
    try:
        authorization = await _authorization(websocket, state)
        principal = await state.resolver.resolve(authorization)
    except Unauthorized as exc:
        await _reject(websocket, CLOSE_UNAUTHORIZED, f"{exc.code}: {exc.message}")
        return None
    except (SQLAlchemyError, OSError) as exc:
        log.warning("API key lookup failed", exc_info=exc)
        await _reject(websocket, CLOSE_UNAVAILABLE, "authentication unavailable, retry")
        return None
    try:
        principal.require(REALTIME)
    except Forbidden as exc:
        await _reject(websocket, CLOSE_FORBIDDEN, f"{exc.code}: {exc.message}")
        return None
    if not state.flags.is_enabled("realtime_enabled", principal.tenant_id, default=True):
        await _reject(websocket, CLOSE_DISABLED, "realtime is disabled for this tenant")
        return None
    assert authorization is not None
    conn = Connection(websocket, state, principal.tenant_id, authorization.partition(" ")[2].strip())
    try:
        admitted = await state.limit.acquire(principal.tenant_id, conn.id)
    except RedisError as exc:
        log.warning("connection limit check failed", exc_info=exc)
        await _reject(websocket, CLOSE_UNAVAILABLE, "service unavailable, retry")
        return None
    if not admitted:
        await _reject(websocket, CLOSE_TOO_MANY_CONNECTIONS, "too many connections for this tenant")
        return None
    return conn
