"""One client socket: frames handled in the socket's own task, a sender task while events wait.

An idle socket costs one task (its handler, waiting in `receive`) and a few small objects: the
sender task exists only while its queue holds events, the idle timeout is checked by one sweep
over all sockets (`connection.service.idle_sweep`), and the socket's conversations
(`ConversationSession`: what its messages do, the conversations it follows) exist from its first
message on. Replies themselves run in the `Responder`, never on this socket.

Closing: a close (idle timeout, forbidden conversation, flag off) is queued behind the events
already waiting; when the sender reaches it, it stops the socket and the handler sends the close
frame. A queue overflow (slow client) stops the socket at once with 4008.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket, WebSocketDisconnect

from realtime.connection.schemas import CLOSE_FORBIDDEN, CLOSE_SLOW_CONSUMER
from realtime.connection.send_queue import SendQueue
from realtime.conversations.schemas import (
    ConversationNotFound,
    MessageCreate,
    Ping,
    ProtocolError,
    Resume,
    error_event,
    event,
    parse_client_frame,
)
from realtime.metrics import WS_ACTIVE, WS_CLOSES, WS_MESSAGES_IN, WS_MESSAGES_OUT

if TYPE_CHECKING:
    from realtime.conversations.service import ConversationSession
    from realtime.state import RealtimeState

__all__ = ["Connection"]

log = logging.getLogger(__name__)

_CLOSE = "__close__"
_tracer = trace.get_tracer("realtime.connection")
_SLOW_REASON = "slow consumer: send queue limit exceeded"


class Connection:
    __slots__ = (
        "id",
        "tenant_id",
        "last_seen",
        "_queue",
        "_ws",
        "_state",
        "_settings",
        "_api_key",
        "_session",
        "_handler",
        "_sender",
        "_closing",
        "_stop_close",
        "_stopped",
        "_close_timer",
    )

    def __init__(self, ws: WebSocket, state: RealtimeState, tenant_id: uuid.UUID, api_key: str) -> None:
        self.id = uuid.uuid4().hex
        self.tenant_id = tenant_id
        self.last_seen = time.monotonic()
        self._ws = ws
        self._state = state
        self._settings = state.settings
        self._api_key = api_key
        self._queue: SendQueue | None = None  # created with the first event: idle sockets have none
        self._session: ConversationSession | None = None  # created with the first message: idle sockets have none
        self._handler: asyncio.Task[Any] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._closing = False  # a close is queued: further frames are ignored
        self._stop_close: tuple[int, str] | None = None  # the close frame to send once stopped
        self._stopped = False
        self._close_timer: asyncio.TimerHandle | None = None

    @property
    def queue(self) -> SendQueue:
        queue = self._queue
        if queue is None:
            settings = self._settings
            queue = self._queue = SendQueue(
                max_items=settings.send_queue_max_items,
                max_bytes=settings.send_queue_max_bytes,
                on_ready=self._start_sender,
                on_overflow=self._overflowed,
            )
        return queue

    def disable(self, code: int, reason: str) -> None:
        """Close this socket after what is queued (once), e.g. when the platform switched realtime off."""
        self.request_close(code, reason)

    def deliver(self, item: dict[str, Any]) -> None:
        """Queue an event for this client (never blocks; overflow closes the socket with 4008)."""
        self.queue.put(item)

    def request_close(self, code: int, reason: str) -> None:
        """Queue a close behind the pending events; a client too slow to take them is cut after a timeout."""
        if self._closing or self._stopped:
            return
        self._closing = True
        self.queue.put({"type": _CLOSE, "code": code, "reason": reason})
        self._close_timer = asyncio.get_running_loop().call_later(
            self._settings.slow_close_timeout_s, self.stop, code, reason
        )

    def stop(self, code: int | None = None, reason: str = "") -> None:
        """End the socket now: the handler leaves `receive`, then sends a close frame if `code` is given."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_close = (code, reason) if code is not None else None
        if self._sender is not None and self._sender is not asyncio.current_task():
            self._sender.cancel()
        if self._handler is not None and self._handler is not asyncio.current_task():
            self._handler.cancel()

    def _overflowed(self) -> None:
        self.stop(CLOSE_SLOW_CONSUMER, _SLOW_REASON)

    async def serve(self) -> None:
        """Handle client frames until the client disconnects or the socket is stopped, then clean up.

        The socket was admitted (`endpoint.admit`): it is registered here and its tenant slot given back
        at the end, so no caller's frame has to wait alongside this one for the socket's whole life.
        """
        self._handler = asyncio.current_task()
        self._state.registry.add(self)
        WS_ACTIVE.inc()
        try:
            # The receive loop is inlined here: one coroutine frame less per idle socket.
            while not self._stopped:
                message = await self._ws.receive()
                self.last_seen = time.monotonic()
                if message["type"] == "websocket.disconnect":
                    break
                if not self._closing:  # once a close is queued, nothing more is accepted
                    await self._on_frame(message)
        except asyncio.CancelledError:
            if not self._stopped or self._handler is None:
                raise
            # Cancelled by `stop`, not by a shutdown: carry on to the close frame.
            self._handler.uncancel()
        finally:
            self._stopped = True
            if self._close_timer is not None:
                self._close_timer.cancel()
            tasks = self._session.cancel() if self._session is not None else []
            if self._sender is not None:
                self._sender.cancel()
                tasks.append(self._sender)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            WS_ACTIVE.dec()
            self._state.registry.remove(self)
            try:
                await self._state.limit.release(self.tenant_id, self.id)
            except RedisError:
                log.warning("connection slot not released; it expires with its TTL")
        if self._stop_close is not None:
            await self._close(*self._stop_close)

    async def _close(self, code: int, reason: str) -> None:
        WS_CLOSES.labels(code=str(code)).inc()
        try:
            await asyncio.wait_for(self._ws.close(code, reason), self._settings.slow_close_timeout_s)
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            log.debug("close frame not delivered", extra={"code": code})

    # -- sending -------------------------------------------------------------------------
    def _start_sender(self) -> None:
        if self._sender is None and not self._stopped:
            self._sender = asyncio.create_task(self._send_loop())

    async def _send_loop(self) -> None:
        """Send queued events until the queue is empty; a queued close stops the socket."""
        try:
            while (item := self.queue.pop()) is not None:
                if item["type"] == _CLOSE:
                    self.stop(int(item["code"]), str(item["reason"]))
                    return
                try:
                    await self._ws.send_text(orjson.dumps(item).decode())
                except (WebSocketDisconnect, OSError, RuntimeError):
                    self.stop()  # the client went away: no close frame
                    return
                WS_MESSAGES_OUT.labels(type=item["type"]).inc()
        finally:
            self._sender = None

    # -- receiving -----------------------------------------------------------------------
    async def _on_frame(self, message: MutableMapping[str, Any]) -> None:
        try:
            parsed = parse_client_frame(
                message.get("text") if message.get("text") is not None else message.get("bytes"),
                max_bytes=self._settings.max_frame_bytes,
            )
        except ProtocolError as exc:
            WS_MESSAGES_IN.labels(type="invalid").inc()
            self.deliver(error_event(exc.code, exc.message))
            return
        WS_MESSAGES_IN.labels(type=parsed.type).inc()
        if isinstance(parsed, Ping):
            self.deliver(event("pong"))
            return
        # One span per message (its reply, started inside it, is a child: gateway call, deltas).
        attributes = {"realtime.tenant_id": str(self.tenant_id), "realtime.connection_id": self.id}
        with _tracer.start_as_current_span(
            f"ws receive {parsed.type}", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                close = await self._handle(parsed)
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("frame handling failed", exc_info=exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                self.deliver(error_event("service_unavailable", "Try again shortly."))
                return
        if close is not None:
            self.request_close(*close)

    def _conversations(self) -> ConversationSession:
        session = self._session
        if session is None:
            session = self._session = self._state.conversations.session(self, self.tenant_id, self._api_key)
        return session

    async def _handle(self, message: MessageCreate | Resume) -> tuple[int, str] | None:
        """Hand the message to the conversation logic; the close to queue, if any."""
        try:
            await self._conversations().handle(message)
        except ConversationNotFound as exc:
            self.deliver(
                error_event(
                    "conversation_not_found",
                    "No such conversation for this API key's tenant.",
                    conversation_id=str(exc.conversation_id),
                )
            )
            return CLOSE_FORBIDDEN, "conversation not found for this tenant"
        return None
