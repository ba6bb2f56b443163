"""The live side of a conversation in Redis: seq counter, event stream, in-flight reply marker.

Keys share the hash tag `{<conversation_id>}`:

    rt:{c}:seq       last seq handed out (INCR); seeded from Postgres when missing
    rt:{c}:log       stream of events; the entry id is `<seq>-0`, so `XREAD` from `<n>-0` yields seq > n
    rt:{c}:inflight  response id of the reply being streamed (SET NX, TTL refreshed by its producer)

Appending is one Lua script (INCR + XADD), so stream order is seq order across instances.

Redis is a cache here, never the record: it may come back empty (no persistence). Every seq is
handed out with a floor, the highest seq the caller knows of (Postgres' `max(seq)`, or the last
seq a reply's producer handed out, which may not be persisted yet): the script raises a missing
or lower counter to the floor before incrementing, so a seq never repeats or goes backwards.
Accepted `client_msg_id`s live in Postgres only (`EventStore.accept_message`).

`LocalFanout`: while this process produces a conversation's reply, its followers in this process
take the events straight from the producer instead of a blocking `XREAD` per event (which costs a
Redis round trip per delta and a Redis connection per follower). Redis stays the source of
truth: a follower catches up from the live log when it switches to local delivery and whenever
it sees a gap, and falls back to `XREAD` when no local producer is running.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import redis.asyncio as redis_asyncio

from realtime.conversations.schemas import LoggedEvent

__all__ = ["LiveLog", "LocalFanout", "LocalSubscription", "READ_COUNT"]

# Most events one `read` returns; fewer means the reader is caught up.
READ_COUNT = 512

# Raise a missing (Redis restarted empty) or lower counter to the caller's floor, then increment.
_FLOOR = """
local floor = tonumber(ARGV[#ARGV])
if tonumber(redis.call('GET', KEYS[1]) or '-1') < floor then redis.call('SET', KEYS[1], floor) end
"""

_APPEND = (
    _FLOOR
    + """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'type', ARGV[1], 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return seq
"""
)

_ALLOCATE = (
    _FLOOR
    + """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return seq
"""
)

_FINISH = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[5] .. '-0', 'type', ARGV[1], 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[6] then redis.call('DEL', KEYS[2]) end
return 1
"""

_PUBLISH = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[5] .. '-0', 'type', ARGV[1], 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class LocalSubscription:
    """Events of one conversation published in this process since `subscribe`, in seq order."""

    __slots__ = ("events", "ready")

    def __init__(self) -> None:
        self.events: list[LoggedEvent] = []
        self.ready = asyncio.Event()


class LocalFanout:
    def __init__(self) -> None:
        self._producers: dict[uuid.UUID, int] = {}
        self._subscribers: dict[uuid.UUID, set[LocalSubscription]] = {}

    def producing(self, conversation_id: uuid.UUID) -> bool:
        return conversation_id in self._producers

    def start(self, conversation_id: uuid.UUID) -> None:
        self._producers[conversation_id] = self._producers.get(conversation_id, 0) + 1

    def stop(self, conversation_id: uuid.UUID) -> None:
        left = self._producers.get(conversation_id, 0) - 1
        if left > 0:
            self._producers[conversation_id] = left
        else:
            self._producers.pop(conversation_id, None)
        for sub in self._subscribers.get(conversation_id, ()):
            sub.ready.set()  # followers re-check: back to XREAD once nothing is produced here

    def publish(self, conversation_id: uuid.UUID, event: LoggedEvent) -> None:
        for sub in self._subscribers.get(conversation_id, ()):
            sub.events.append(event)
            sub.ready.set()

    def subscribe(self, conversation_id: uuid.UUID) -> LocalSubscription:
        sub = LocalSubscription()
        self._subscribers.setdefault(conversation_id, set()).add(sub)
        return sub

    def unsubscribe(self, conversation_id: uuid.UUID, sub: LocalSubscription) -> None:
        subs = self._subscribers.get(conversation_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[conversation_id]


def _keys(conversation_id: uuid.UUID) -> tuple[str, str, str]:
    tag = f"rt:{{{conversation_id}}}"
    return f"{tag}:seq", f"{tag}:log", f"{tag}:inflight"


class LiveLog:
    def __init__(self, redis: redis_asyncio.Redis, *, maxlen: int, ttl_s: int, inflight_ttl_s: int) -> None:
        self._redis = redis
        self._maxlen = maxlen
        self._ttl = ttl_s
        self._inflight_ttl = inflight_ttl_s
        self._append = redis.register_script(_APPEND)
        self._allocate = redis.register_script(_ALLOCATE)
        self._finish = redis.register_script(_FINISH)
        self._publish = redis.register_script(_PUBLISH)
        self.local = LocalFanout()

    async def seed_seq(self, conversation_id: uuid.UUID, persisted_max: int) -> None:
        """Make sure the counter exists (after a Redis restart or expiry it restarts from Postgres)."""
        seq_key, _, _ = _keys(conversation_id)
        await self._redis.set(seq_key, persisted_max, nx=True, ex=self._ttl)

    async def last_seq(self, conversation_id: uuid.UUID) -> int:
        seq_key, _, _ = _keys(conversation_id)
        value = await self._redis.get(seq_key)
        return int(value) if value is not None else 0

    async def append(self, conversation_id: uuid.UUID, kind: str, data: dict[str, Any], *, floor: int) -> int:
        """Give the event the next seq above `floor` and publish it to the live stream; returns the seq."""
        seq_key, log_key, _ = _keys(conversation_id)
        args: list[bytes | str | int] = [kind, orjson.dumps(data), self._maxlen, self._ttl, floor]
        seq = int(await self._append(keys=[seq_key, log_key], args=args))
        self.local.publish(conversation_id, LoggedEvent(seq, kind, data))
        return seq

    async def allocate(self, conversation_id: uuid.UUID, *, floor: int) -> int:
        """Reserve the next seq above `floor` without publishing it (see `publish` and `finish`)."""
        seq_key, _, _ = _keys(conversation_id)
        return int(await self._allocate(keys=[seq_key], args=[self._ttl, floor]))

    async def publish(self, conversation_id: uuid.UUID, seq: int, kind: str, data: dict[str, Any]) -> None:
        """Publish an event whose seq came from `allocate` (stored in Postgres first)."""
        _, log_key, _ = _keys(conversation_id)
        await self._publish(keys=[log_key], args=[kind, orjson.dumps(data), self._maxlen, self._ttl, seq])
        self.local.publish(conversation_id, LoggedEvent(seq, kind, data))

    async def finish(
        self, conversation_id: uuid.UUID, seq: int, kind: str, data: dict[str, Any], response_id: str
    ) -> None:
        """Publish a reply's last event (seq from `allocate`) and free the conversation, atomically.

        The caller persists the event first, so a client that sees it can send the next message
        at once: the conversation is free and its history complete.
        """
        _, log_key, inflight_key = _keys(conversation_id)
        await self._finish(
            keys=[log_key, inflight_key],
            args=[kind, orjson.dumps(data), self._maxlen, self._ttl, seq, response_id],
        )
        self.local.publish(conversation_id, LoggedEvent(seq, kind, data))

    async def read(self, conversation_id: uuid.UUID, after_seq: int, *, block_ms: int | None) -> list[LoggedEvent]:
        """Events with seq > `after_seq` (waits up to `block_ms` for the first, None: no wait); [] on timeout."""
        _, log_key, _ = _keys(conversation_id)
        reply: Any = await self._redis.xread({log_key: f"{after_seq}-0"}, count=READ_COUNT, block=block_ms)
        events: list[LoggedEvent] = []
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                seq = int(bytes(entry_id).split(b"-", 1)[0])
                events.append(LoggedEvent(seq, bytes(fields[b"type"]).decode(), orjson.loads(fields[b"data"])))
        return events

    async def claim_inflight(self, conversation_id: uuid.UUID, response_id: str) -> bool:
        """Mark `response_id` as the conversation's streaming reply; False when another one is."""
        _, _, key = _keys(conversation_id)
        return bool(await self._redis.set(key, response_id, nx=True, ex=self._inflight_ttl))

    async def inflight(self, conversation_id: uuid.UUID) -> str | None:
        _, _, key = _keys(conversation_id)
        value: Any = await self._redis.get(key)
        return bytes(value).decode() if value is not None else None

    async def refresh_inflight(self, conversation_id: uuid.UUID) -> None:
        _, _, key = _keys(conversation_id)
        await self._redis.expire(key, self._inflight_ttl)

    async def release_inflight(self, conversation_id: uuid.UUID) -> None:
        _, _, key = _keys(conversation_id)
        await self._redis.delete(key)
