"""Per-connection bounded send queue that coalesces deltas for a slow reader.

Once `coalesce_at` events wait (the client reads slower than replies arrive), a delta joining
a queue whose last event is a delta of the same reply is merged into it (text appended, seq
becomes the newer one), so a slow client receives fewer, larger deltas and never loses text.
Replays from Postgres wait for `wait_room` instead, so they are never coalesced. Past
`max_items` events or `max_bytes` of payload the queue is marked overflowed: the
connection closes with 4008 and the queue is emptied.
`put` never blocks and never raises, so producers and fan-out never wait on a client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import orjson

from realtime.metrics import WS_BACKPRESSURE_DROPS, WS_SEND_QUEUE_DEPTH

__all__ = ["SendQueue"]

_DELTA = "response.delta"
_DELTA_OVERHEAD = 160  # envelope bytes of a delta event besides its text


def _size(item: dict[str, Any]) -> int:
    if item["type"] == _DELTA:
        return _DELTA_OVERHEAD + len(item["delta"])
    return len(orjson.dumps(item))


class SendQueue:
    def __init__(self, *, max_items: int, max_bytes: int, coalesce_at: int = 16) -> None:
        self._max_items = max_items
        self._coalesce_at = coalesce_at
        self._room = asyncio.Event()
        self._room.set()
        self._max_bytes = max_bytes
        self._items: deque[dict[str, Any]] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self.overflowed = False
        # Set on overflow: the sender may be stuck in a send to this very client, so the socket watches this.
        self.overflow = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, item: dict[str, Any]) -> None:
        """Queue `item` (merging a delta into the queued one when possible); past the limits: overflow."""
        if self.overflowed:
            return
        if item["type"] == _DELTA and len(self._items) >= self._coalesce_at:
            last = self._items[-1]
            if (
                last["type"] == _DELTA
                and last["response_id"] == item["response_id"]
                and last.get("conversation_id") == item.get("conversation_id")
            ):
                last["delta"] += item["delta"]
                last["seq"] = item["seq"]
                self._bytes += len(item["delta"])
                WS_BACKPRESSURE_DROPS.inc()
                self._check()
                return
        self._items.append(dict(item) if item["type"] == _DELTA else item)
        self._bytes += _size(item)
        WS_SEND_QUEUE_DEPTH.observe(len(self._items))
        self._ready.set()
        if len(self._items) >= self._coalesce_at:
            self._room.clear()
        self._check()

    def _check(self) -> None:
        if len(self._items) > self._max_items or self._bytes > self._max_bytes:
            self.overflowed = True
            self.overflow.set()
            self._items.clear()
            self._bytes = 0
            self._ready.set()  # wake the sender so it sees the overflow
            self._room.set()

    async def wait_room(self) -> None:
        """Wait until fewer than `coalesce_at` events are queued (or the queue overflowed)."""
        while len(self._items) >= self._coalesce_at and not self.overflowed:
            self._room.clear()
            await self._room.wait()

    async def get(self) -> dict[str, Any] | None:
        """The next event, or None once the queue has overflowed."""
        while not self._items:
            if self.overflowed:
                return None
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        item = self._items.popleft()
        self._bytes -= _size(item)
        if len(self._items) < self._coalesce_at:
            self._room.set()
        return item
