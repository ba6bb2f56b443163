"""One client socket: frames handled in the socket's own task, a sender task while events wait.

An idle socket costs one task (its handler, waiting in `receive`) and a few small objects: the
sender task exists only while its queue holds events, the idle timeout is checked by one sweep
over all sockets (`idle_sweep`), and followers exist only for conversations being followed.

Each followed conversation has a `ConversationFollower` task (realtime.follower). Replies
themselves run in the `Responder`, never on this socket.

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

from realtime.follower import ConversationFollower
from realtime.metrics import WS_ACTIVE, WS_CLOSES, WS_MESSAGES_IN, WS_MESSAGES_OUT
from realtime.protocol import MessageCreate, Ping, ProtocolError, Resume, error_event, event, parse_client_frame
from realtime.responder import ReplyJob
from realtime.send_queue import SendQueue
from realtime.store import Refused

if TYPE_CHECKING:
    from realtime.registry import ConnectionRegistry
    from realtime.state import RealtimeState

__all__ = ["Connection", "CLOSE_IDLE", "CLOSE_FORBIDDEN", "CLOSE_SLOW_CONSUMER", "idle_sweep"]

log = logging.getLogger(__name__)

CLOSE_IDLE = 4000
CLOSE_FORBIDDEN = 4403
CLOSE_SLOW_CONSUMER = 4008
_CLOSE = "__close__"
_tracer = trace.get_tracer("realtime.connection")
_SLOW_REASON = "slow consumer: send queue limit exceeded"
_IDLE_REASON = "idle timeout: send ping at least every idle period"


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
        "_followers",
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
        self._followers: dict[uuid.UUID, asyncio.Task[None]] = {}
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
            tasks = [t for t in (self._sender, *self._followers.values()) if t is not None]
            for task in tasks:
                task.cancel()
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

    async def _handle(self, message: MessageCreate | Resume | Ping) -> tuple[int, str] | None:
        if isinstance(message, Ping):
            self.deliver(event("pong"))
            return None
        if isinstance(message, Resume):
            return await self._resume(message)
        return await self._create(message)

    def _forbidden(self, conversation_id: uuid.UUID) -> tuple[int, str]:
        self.deliver(
            error_event(
                "conversation_not_found",
                "No such conversation for this API key's tenant.",
                conversation_id=str(conversation_id),
            )
        )
        return CLOSE_FORBIDDEN, "conversation not found for this tenant"

    async def _resume(self, message: Resume) -> tuple[int, str] | None:
        cid = message.conversation_id
        persisted = await self._state.store.owned_max_seq(self.tenant_id, cid)
        if persisted is None:
            return self._forbidden(cid)
        await self._state.live.seed_seq(cid, persisted)
        if message.last_seq > await self._state.live.last_seq(cid):
            self.deliver(
                error_event("invalid_last_seq", "last_seq is beyond the conversation.", conversation_id=str(cid))
            )
            return None
        old = self._followers.pop(cid, None)
        if old is not None:
            old.cancel()
        elif not self._room_for_conversation():
            return None
        self._follow(cid, message.last_seq)
        return None

    def _room_for_conversation(self) -> bool:
        if len(self._followers) < self._settings.max_conversations_per_connection:
            return True
        self.deliver(error_event("too_many_conversations", "This socket follows too many conversations."))
        return False

    async def _create(self, message: MessageCreate) -> tuple[int, str] | None:
        state = self._state
        if state.responder.busy:
            self.deliver(error_event("server_busy", "Too many replies in progress; retry shortly."))
            return None
        cid = message.conversation_id
        is_new = cid is None
        if cid is None:
            if not self._room_for_conversation():
                return None
            cid = uuid.uuid4()
            await state.store.create_conversation(self.tenant_id, cid)
            await state.live.seed_seq(cid, 0)
            self._follow(cid, 0)
            first = await state.live.append(cid, "conversation.created", {}, floor=0)
            await state.store.append(self.tenant_id, cid, [(first, "conversation.created", {})])
        else:
            persisted = await state.store.owned_max_seq(self.tenant_id, cid)
            if persisted is None:
                return self._forbidden(cid)
            await state.live.seed_seq(cid, persisted)
            if cid not in self._followers:
                if not self._room_for_conversation():
                    return None
                self._follow(cid, await state.live.last_seq(cid))
        response_id = "resp_" + uuid.uuid4().hex
        if not await state.live.claim_inflight(cid, response_id):
            self.deliver(
                error_event("response_in_progress", "A reply is still streaming here.", conversation_id=str(cid))
            )
            return None
        data = {
            "response_id": response_id,
            "client_msg_id": message.client_msg_id,
            "role": "user",
            "content": message.content,
            "model": message.model,
        }
        seq: int | Refused | None = None
        try:
            history = [] if is_new else await state.store.history(self.tenant_id, cid)
            # Postgres decides whether the id is taken (Redis may have restarted empty); a message whose
            # handling fails below is discarded, so the client can send it again with the same id.
            seq = await state.store.accept_message(
                self.tenant_id,
                cid,
                data,
                lambda floor: state.live.allocate(cid, floor=floor),
                live_s=self._settings.inflight_ttl_s,
            )
            if seq is Refused.IN_PROGRESS:
                await state.live.release_inflight(cid)
                self.deliver(
                    error_event("response_in_progress", "A reply is still streaming here.", conversation_id=str(cid))
                )
                return None
            if seq is Refused.DUPLICATE:
                await state.live.release_inflight(cid)
                self.deliver(
                    error_event(
                        "duplicate_message",
                        "This client_msg_id was already accepted.",
                        conversation_id=str(cid),
                        client_msg_id=message.client_msg_id,
                    )
                )
                return None
            await state.live.publish(cid, seq, "message.created", data)
        except BaseException:
            if isinstance(seq, int):
                await asyncio.shield(self._discard(cid, seq))
            await asyncio.shield(state.live.release_inflight(cid))
            raise
        messages = [*history, {"role": "user", "content": message.content}]
        state.responder.start(
            ReplyJob(self.tenant_id, cid, response_id, self._api_key, message.model, messages, last_seq=seq)
        )
        return None

    async def _discard(self, conversation_id: uuid.UUID, seq: int) -> None:
        """Take back a stored, unpublished user message (if this fails too, its id frees up after the in-flight TTL)."""
        try:
            await self._state.store.discard(self.tenant_id, conversation_id, seq)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("unpublished message not discarded", exc_info=exc)

    # -- following conversations ---------------------------------------------------------
    def _follow(self, conversation_id: uuid.UUID, cursor: int) -> None:
        state = self._state
        follower = ConversationFollower(self, state.live, state.store, self.tenant_id, conversation_id)
        task = asyncio.create_task(follower.run(cursor))
        self._followers[conversation_id] = task
        task.add_done_callback(lambda done: self._forget_follower(conversation_id, done))

    def _forget_follower(self, conversation_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        """A follower that ended (failed, or its socket is stopping) no longer counts; a replaced one is kept."""
        if self._followers.get(conversation_id) is task:
            del self._followers[conversation_id]


async def idle_sweep(registry: ConnectionRegistry, idle_timeout_s: float) -> None:
    """Close sockets silent for `idle_timeout_s` with 4000 (one loop for all, instead of a timer per socket)."""
    every = min(1.0, idle_timeout_s / 4)
    while True:
        await asyncio.sleep(every)
        cutoff = time.monotonic() - idle_timeout_s
        for conn in registry.all():
            if conn.last_seen < cutoff:
                conn.request_close(CLOSE_IDLE, _IDLE_REASON)
