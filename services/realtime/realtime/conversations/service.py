"""What a socket's messages do: start conversations, store user messages, start replies, follow conversations.

`ConversationService` is the process's conversation logic (one per process, born in the lifespan);
`ConversationSession` is one socket's side of it: the conversations that socket follows, each a
`ConversationFollower` task, created with the socket's first message (an idle socket has none).
Replies run in the `Responder`, never on the socket, so they finish even when the client leaves.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from realtime.conversations.claims import Refused
from realtime.conversations.follower import ConversationFollower, Socket
from realtime.conversations.live_log import LiveLog
from realtime.conversations.repository import EventStore
from realtime.conversations.responder import ReplyJob, Responder
from realtime.conversations.schemas import ConversationNotFound, MessageCreate, Resume, error_event

__all__ = ["ConversationService", "ConversationSession"]

log = logging.getLogger(__name__)


class ConversationService:
    """The conversation logic shared by every socket of this process."""

    def __init__(
        self,
        store: EventStore,
        live: LiveLog,
        responder: Responder,
        *,
        max_conversations_per_connection: int,
        inflight_ttl_s: int,
    ) -> None:
        self.store = store
        self.live = live
        self.responder = responder
        self.max_conversations = max_conversations_per_connection
        self.inflight_ttl_s = inflight_ttl_s

    def session(self, socket: Socket, tenant_id: uuid.UUID, api_key: str) -> ConversationSession:
        """The conversations of one socket, acting as `api_key` of `tenant_id`."""
        return ConversationSession(self, socket, tenant_id, api_key)


class ConversationSession:
    """One socket's conversations: the messages it sends and the conversations it follows."""

    __slots__ = ("_service", "_socket", "_tenant_id", "_api_key", "_followers")

    def __init__(self, service: ConversationService, socket: Socket, tenant_id: uuid.UUID, api_key: str) -> None:
        self._service = service
        self._socket = socket
        self._tenant_id = tenant_id
        self._api_key = api_key
        self._followers: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def handle(self, message: MessageCreate | Resume) -> None:
        """Act on a client message; raises `ConversationNotFound` for a conversation the tenant does not own."""
        if isinstance(message, Resume):
            await self._resume(message)
        else:
            await self._create(message)

    def cancel(self) -> list[asyncio.Task[None]]:
        """Stop following every conversation (the socket is closing); the tasks to wait for."""
        tasks = list(self._followers.values())
        for task in tasks:
            task.cancel()
        return tasks

    async def _resume(self, message: Resume) -> None:
        live, cid = self._service.live, message.conversation_id
        persisted = await self._service.store.owned_max_seq(self._tenant_id, cid)
        if persisted is None:
            raise ConversationNotFound(cid)
        await live.seed_seq(cid, persisted)
        if message.last_seq > await live.last_seq(cid):
            self._deliver(
                error_event("invalid_last_seq", "last_seq is beyond the conversation.", conversation_id=str(cid))
            )
            return
        old = self._followers.pop(cid, None)
        if old is not None:
            old.cancel()
        elif not self._room_for_conversation():
            return
        self._follow(cid, message.last_seq)

    def _room_for_conversation(self) -> bool:
        if len(self._followers) < self._service.max_conversations:
            return True
        self._deliver(error_event("too_many_conversations", "This socket follows too many conversations."))
        return False

    async def _create(self, message: MessageCreate) -> None:
        service, tenant_id = self._service, self._tenant_id
        store, live = service.store, service.live
        if service.responder.busy:
            self._deliver(error_event("server_busy", "Too many replies in progress; retry shortly."))
            return
        cid = message.conversation_id
        is_new = cid is None
        if cid is None:
            if not self._room_for_conversation():
                return
            cid = uuid.uuid4()
            await store.create_conversation(tenant_id, cid)
            await live.seed_seq(cid, 0)
            self._follow(cid, 0)
            first = await live.append(cid, "conversation.created", {}, floor=0)
            await store.append(tenant_id, cid, [(first, "conversation.created", {})])
        else:
            persisted = await store.owned_max_seq(tenant_id, cid)
            if persisted is None:
                raise ConversationNotFound(cid)
            await live.seed_seq(cid, persisted)
            if cid not in self._followers:
                if not self._room_for_conversation():
                    return
                self._follow(cid, await live.last_seq(cid))
        response_id = "resp_" + uuid.uuid4().hex
        if not await live.claim_inflight(cid, response_id):
            self._in_progress(cid)
            return
        data = {
            "response_id": response_id,
            "client_msg_id": message.client_msg_id,
            "role": "user",
            "content": message.content,
            "model": message.model,
        }
        seq: int | Refused | None = None
        try:
            history = [] if is_new else await store.history(tenant_id, cid)
            # Postgres decides whether the id is taken (Redis may have restarted empty); a message whose
            # handling fails below is discarded, so the client can send it again with the same id.
            seq = await store.accept_message(
                tenant_id,
                cid,
                data,
                lambda floor: live.allocate(cid, floor=floor),
                live_s=service.inflight_ttl_s,
            )
            if seq is Refused.IN_PROGRESS:
                await live.release_inflight(cid)
                self._in_progress(cid)
                return
            if seq is Refused.DUPLICATE:
                await live.release_inflight(cid)
                self._deliver(
                    error_event(
                        "duplicate_message",
                        "This client_msg_id was already accepted.",
                        conversation_id=str(cid),
                        client_msg_id=message.client_msg_id,
                    )
                )
                return
            await live.publish(cid, seq, "message.created", data)
        except BaseException:
            if isinstance(seq, int):
                await asyncio.shield(self._discard(cid, seq))
            await asyncio.shield(live.release_inflight(cid))
            raise
        messages = [*history, {"role": "user", "content": message.content}]
        service.responder.start(
            ReplyJob(tenant_id, cid, response_id, self._api_key, message.model, messages, last_seq=seq)
        )

    def _in_progress(self, conversation_id: uuid.UUID) -> None:
        self._deliver(
            error_event(
                "response_in_progress", "A reply is still streaming here.", conversation_id=str(conversation_id)
            )
        )

    async def _discard(self, conversation_id: uuid.UUID, seq: int) -> None:
        """Take back a stored, unpublished user message (if this fails too, its id frees up after the in-flight TTL)."""
        try:
            await self._service.store.discard(self._tenant_id, conversation_id, seq)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("unpublished message not discarded", exc_info=exc)

    def _deliver(self, item: dict[str, Any]) -> None:
        self._socket.deliver(item)

    def _follow(self, conversation_id: uuid.UUID, cursor: int) -> None:
        service = self._service
        follower = ConversationFollower(self._socket, service.live, service.store, self._tenant_id, conversation_id)
        task = asyncio.create_task(follower.run(cursor))
        self._followers[conversation_id] = task
        task.add_done_callback(lambda done: self._forget_follower(conversation_id, done))

    def _forget_follower(self, conversation_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        """A follower that ended (failed, or its socket is stopping) no longer counts; a replaced one is kept."""
        if self._followers.get(conversation_id) is task:
            del self._followers[conversation_id]
