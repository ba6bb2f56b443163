"""One client socket: a receive loop, a send loop draining the bounded queue, and one follower per conversation.

The follower of a conversation replays persisted events after the client's cursor
(Postgres), then reads the Redis live log from there; the live-log entry id is the seq,
so nothing is skipped or repeated, and a gap (entries trimmed from the live log) is
filled from Postgres. Replies themselves run in the `Responder`, never on this socket.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket, WebSocketDisconnect

from realtime.metrics import WS_CLOSES, WS_MESSAGES_IN, WS_MESSAGES_OUT
from realtime.protocol import MessageCreate, Ping, ProtocolError, Resume, error_event, event, parse_client_frame
from realtime.responder import ReplyJob
from realtime.send_queue import SendQueue

if TYPE_CHECKING:
    from realtime.state import RealtimeState

__all__ = ["Connection", "CLOSE_IDLE", "CLOSE_FORBIDDEN", "CLOSE_SLOW_CONSUMER"]

log = logging.getLogger(__name__)

CLOSE_IDLE = 4000
CLOSE_FORBIDDEN = 4403
CLOSE_SLOW_CONSUMER = 4008
_CLOSE = "__close__"
_SLOW_REASON = "slow consumer: send queue limit exceeded"
# Below the Redis client's socket timeout (5 s by default), or a quiet stream reads as a failure.
_BLOCK_MS = 2_000


class Connection:
    def __init__(self, ws: WebSocket, state: RealtimeState, tenant_id: uuid.UUID, api_key: str) -> None:
        self.id = uuid.uuid4().hex
        self.tenant_id = tenant_id
        self._ws = ws
        self._state = state
        self._settings = state.settings
        self._api_key = api_key
        self.queue = SendQueue(
            max_items=state.settings.send_queue_max_items, max_bytes=state.settings.send_queue_max_bytes
        )
        self._followers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._disabled = False

    def disable(self, code: int, reason: str) -> None:
        """Close this socket after what is queued (once), e.g. when the platform switched realtime off."""
        if not self._disabled:
            self._disabled = True
            self._request_close(code, reason)

    def deliver(self, item: dict[str, Any]) -> None:
        """Queue an event for this client (never blocks; overflow closes the socket with 4008)."""
        self.queue.put(item)

    async def serve(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        receiver = asyncio.create_task(self._receive_loop())
        overflow = asyncio.create_task(self.queue.overflow.wait())
        try:
            done, _ = await asyncio.wait({sender, receiver, overflow}, return_when=asyncio.FIRST_COMPLETED)
            close: tuple[int, str] | None = None
            if overflow in done:
                # The sender may be blocked writing to this client: it is cancelled, the close frame is queued.
                close = CLOSE_SLOW_CONSUMER, _SLOW_REASON
            elif receiver in done and receiver.result() is not None:
                # The receiver asked to close after its last events: let the sender flush them first.
                try:
                    close = await asyncio.wait_for(sender, self._settings.slow_close_timeout_s)
                except TimeoutError:
                    close = None
            elif sender in done:
                close = sender.result()
        finally:
            for task in (sender, receiver, overflow, *self._followers.values()):
                task.cancel()
            await asyncio.gather(sender, receiver, overflow, *self._followers.values(), return_exceptions=True)
        if close is not None:
            await self._close(*close)

    async def _close(self, code: int, reason: str) -> None:
        WS_CLOSES.labels(code=str(code)).inc()
        try:
            await asyncio.wait_for(self._ws.close(code, reason), self._settings.slow_close_timeout_s)
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            log.debug("close frame not delivered", extra={"code": code})

    # -- sending -------------------------------------------------------------------------
    async def _send_loop(self) -> tuple[int, str] | None:
        """Send queued events; returns the close to perform, or None when the client went away."""
        while True:
            item = await self.queue.get()
            if item is None:
                return CLOSE_SLOW_CONSUMER, _SLOW_REASON
            if item["type"] == _CLOSE:
                return int(item["code"]), str(item["reason"])
            try:
                await self._ws.send_text(orjson.dumps(item).decode())
            except (WebSocketDisconnect, OSError, RuntimeError):
                return None
            WS_MESSAGES_OUT.labels(type=item["type"]).inc()

    def _request_close(self, code: int, reason: str) -> tuple[int, str]:
        self.queue.put({"type": _CLOSE, "code": code, "reason": reason})
        return code, reason

    # -- receiving -----------------------------------------------------------------------
    async def _receive_loop(self) -> tuple[int, str] | None:
        """Handle client frames; returns a close to perform after pending events, or None on disconnect."""
        while True:
            try:
                async with asyncio.timeout(self._settings.idle_timeout_s):
                    message = await self._ws.receive()
            except TimeoutError:
                return self._request_close(CLOSE_IDLE, "idle timeout: send ping at least every idle period")
            if message["type"] == "websocket.disconnect":
                return None
            try:
                parsed = parse_client_frame(
                    message.get("text") if message.get("text") is not None else message.get("bytes"),
                    max_bytes=self._settings.max_frame_bytes,
                )
            except ProtocolError as exc:
                WS_MESSAGES_IN.labels(type="invalid").inc()
                self.deliver(error_event(exc.code, exc.message))
                continue
            WS_MESSAGES_IN.labels(type=parsed.type).inc()
            try:
                close = await self._handle(parsed)
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("frame handling failed", exc_info=exc)
                self.deliver(error_event("service_unavailable", "Try again shortly."))
                continue
            if close is not None:
                return close

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
        return self._request_close(CLOSE_FORBIDDEN, "conversation not found for this tenant")

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
            seq = await state.live.append(cid, "conversation.created", {})
            await state.store.append(self.tenant_id, cid, [(seq, "conversation.created", {})])
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
        try:
            if not await state.live.accept_client_msg(cid, message.client_msg_id):
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
            history = [] if is_new else await state.store.history(self.tenant_id, cid)
            data = {
                "response_id": response_id,
                "client_msg_id": message.client_msg_id,
                "role": "user",
                "content": message.content,
                "model": message.model,
            }
            seq = await state.live.append(cid, "message.created", data)
            await state.store.append(self.tenant_id, cid, [(seq, "message.created", data)])
        except BaseException:
            await asyncio.shield(state.live.release_inflight(cid))
            raise
        messages = [*history, {"role": "user", "content": message.content}]
        state.responder.start(ReplyJob(self.tenant_id, cid, response_id, self._api_key, message.model, messages))
        return None

    # -- following conversations ---------------------------------------------------------
    def _follow(self, conversation_id: uuid.UUID, cursor: int) -> None:
        task = asyncio.create_task(self._follower(conversation_id, cursor))
        self._followers[conversation_id] = task

    def _deliver_stored(self, cid: uuid.UUID, seq: int, kind: str, data: dict[str, Any]) -> None:
        self.deliver({"v": 1, "type": kind, "conversation_id": str(cid), "seq": seq, **data})

    async def _replay(self, cid: uuid.UUID, after: int, before: int | None) -> int:
        """Send persisted events with `after < seq < before`; returns the new cursor."""
        while True:
            rows = await self._state.store.events_between(self.tenant_id, cid, after, before)
            for row in rows:
                await self.queue.wait_room()
                self._deliver_stored(cid, row.seq, row.type, row.data)
                after = row.seq
            if len(rows) < 1000 or self.queue.overflowed:
                return after

    async def _follower(self, cid: uuid.UUID, cursor: int) -> None:
        try:
            cursor = await self._replay(cid, cursor, None)
            while not self.queue.overflowed:
                for live in await self._state.live.read(cid, cursor, block_ms=_BLOCK_MS):
                    if live.seq <= cursor:
                        continue
                    if live.seq > cursor + 1:
                        cursor = await self._replay(cid, cursor, live.seq)
                    self._deliver_stored(cid, live.seq, live.type, live.data)
                    cursor = live.seq
        except (RedisError, SQLAlchemyError, OSError) as exc:
            log.warning("conversation follower failed", exc_info=exc, extra={"conversation_id": str(cid)})
            self.deliver(error_event("follow_failed", "Lost the live stream; resume from your last seq."))
            self._followers.pop(cid, None)
