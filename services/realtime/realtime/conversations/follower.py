"""Following one conversation for one socket: persisted events, then the live log, in seq order.

The follower replays persisted events after the client's cursor (Postgres), then reads the Redis
live log from there; the live-log entry id is the seq, so nothing is skipped or repeated, and a gap
(entries trimmed from the live log) is filled from Postgres. While this process produces the
conversation's reply, events come straight from the producer (`LocalFanout`) instead of a blocking
`XREAD` per event; the live log is read to catch up when switching and whenever a gap shows.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from realtime.conversations.live_log import READ_COUNT, LiveLog
from realtime.conversations.repository import EventStore
from realtime.conversations.schemas import LoggedEvent, error_event

__all__ = ["ConversationFollower", "Outbox", "Socket"]

log = logging.getLogger(__name__)

# Below the Redis client's socket timeout (5 s by default), or a quiet stream reads as a failure.
_BLOCK_MS = 2_000
# Rows per Postgres replay page (`EventStore.events_between`'s `limit`).
_REPLAY_PAGE = 1000


class Outbox(Protocol):
    """What a follower needs of its socket's send queue (`realtime.connection.send_queue.SendQueue`)."""

    @property
    def overflowed(self) -> bool: ...

    async def wait_room(self) -> None: ...


class Socket(Protocol):
    """What conversation logic needs of its socket (`realtime.connection.websocket.Connection`)."""

    @property
    def queue(self) -> Outbox: ...

    def deliver(self, item: dict[str, Any]) -> None: ...


class ConversationFollower:
    __slots__ = ("_socket", "_live", "_store", "_tenant_id", "_cid")

    def __init__(
        self, socket: Socket, live: LiveLog, store: EventStore, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> None:
        self._socket = socket
        self._live = live
        self._store = store
        self._tenant_id = tenant_id
        self._cid = conversation_id

    async def run(self, cursor: int) -> None:
        """Deliver every event after `cursor` until the socket's queue overflows (or the task is cancelled)."""
        cid, live_log, queue = self._cid, self._live, self._socket.queue
        try:
            cursor = await self._replay(cursor, None)
            while not queue.overflowed:
                if live_log.local.producing(cid):
                    cursor = await self._follow_local(cursor)
                    continue
                for live in await live_log.read(cid, cursor, block_ms=_BLOCK_MS):
                    cursor = await self._take(cursor, live)
        except (RedisError, SQLAlchemyError, OSError) as exc:
            log.warning("conversation follower failed", exc_info=exc, extra={"conversation_id": str(cid)})
            self._socket.deliver(error_event("follow_failed", "Lost the live stream; resume from your last seq."))

    def _deliver(self, seq: int, kind: str, data: dict[str, Any]) -> None:
        self._socket.deliver({"v": 1, "type": kind, "conversation_id": str(self._cid), "seq": seq, **data})

    async def _replay(self, after: int, before: int | None) -> int:
        """Send persisted events with `after < seq < before`; returns the new cursor."""
        queue = self._socket.queue
        while True:
            rows = await self._store.events_between(self._tenant_id, self._cid, after, before, limit=_REPLAY_PAGE)
            for row in rows:
                await queue.wait_room()
                self._deliver(row.seq, row.type, row.data)
                after = row.seq
            if len(rows) < _REPLAY_PAGE or queue.overflowed:
                return after

    async def _take(self, cursor: int, live: LoggedEvent) -> int:
        """Deliver `live` if it is the next event (filling a gap first); returns the new cursor."""
        if live.seq <= cursor:
            return cursor
        if live.seq > cursor + 1:
            cursor = await self._replay(cursor, live.seq)
        seq: int = live.seq
        self._deliver(seq, live.type, live.data)
        return seq

    async def _catch_up(self, cursor: int, before: int | None = None) -> int:
        """Deliver what the Redis live log holds after `cursor` (below `before`), without waiting."""
        while True:
            events = await self._live.read(self._cid, cursor, block_ms=None)
            for live in events:
                if before is not None and live.seq >= before:
                    return cursor
                cursor = await self._take(cursor, live)
            if len(events) < READ_COUNT:
                return cursor

    async def _follow_local(self, cursor: int) -> int:
        """Take events from this process's producer until it stops; returns the cursor."""
        fanout, queue = self._live.local, self._socket.queue
        sub = fanout.subscribe(self._cid)
        try:
            cursor = await self._catch_up(cursor)  # appended before the subscription began
            while not queue.overflowed:
                if not sub.events:
                    if not fanout.producing(self._cid):
                        return cursor
                    sub.ready.clear()
                    await sub.ready.wait()
                    continue
                events, sub.events = sub.events, []
                for live in events:
                    if live.seq > cursor + 1:
                        cursor = await self._catch_up(cursor, before=live.seq)
                    cursor = await self._take(cursor, live)
            return cursor
        finally:
            fanout.unsubscribe(self._cid, sub)
