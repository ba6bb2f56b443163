"""Per-connection bounded send queue that coalesces deltas for a slow reader.

Once `coalesce_at` events wait (the client reads slower than replies arrive), a delta joining
a queue whose last event is a delta of the same reply is merged into it (text appended, seq
becomes the newer one), so a slow client receives fewer, larger deltas and never loses text.
Replays from Postgres wait for `wait_room` instead, so they are never coalesced. Past
`max_items` events or `max_bytes` of payload the queue is marked overflowed: the
connection closes with 4008 and the queue is emptied.
`put` never blocks and never raises, so producers and fan-out never wait on a client.

Nothing here waits: the owner gets `on_ready` when the queue turns non-empty (it starts a sender
that `pop`s until empty) and `on_overflow` once. An idle socket's queue holds no deque, event or
task, which keeps thousands of idle sockets cheap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
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
    __slots__ = (
        "_max_items",
        "_max_bytes",
        "_coalesce_at",
        "_items",
        "_bytes",
        "_room",
        "_on_ready",
        "_on_overflow",
        "overflowed",
    )

    def __init__(
        self,
        *,
        max_items: int,
        max_bytes: int,
        coalesce_at: int = 16,
        on_ready: Callable[[], None] | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._coalesce_at = coalesce_at
        self._items: deque[dict[str, Any]] | None = None  # created on the first event
        self._bytes = 0
        self._room: asyncio.Event | None = None  # created by the first `wait_room` that has to wait
        self._on_ready = on_ready
        self._on_overflow = on_overflow
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, item: dict[str, Any]) -> None:
        """Queue `item` (merging a delta into the queued one when possible); past the limits: overflow."""
        if self.overflowed:
            return
        items = self._items
        if items is None:
            items = self._items = deque()
        if item["type"] == _DELTA and len(items) >= self._coalesce_at:
            last = items[-1]
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
        was_empty = not items
        items.append(dict(item) if item["type"] == _DELTA else item)
        self._bytes += _size(item)
        WS_SEND_QUEUE_DEPTH.observe(len(items))
        if len(items) >= self._coalesce_at and self._room is not None:
            self._room.clear()
        if self._check() and was_empty and self._on_ready is not None:
            self._on_ready()

    def _check(self) -> bool:
        """False (and the queue overflowed, emptied, `on_overflow` called) past a limit."""
        if len(self) <= self._max_items and self._bytes <= self._max_bytes:
            return True
        self.overflowed = True
        self._items = None
        self._bytes = 0
        if self._room is not None:
            self._room.set()
        if self._on_overflow is not None:
            self._on_overflow()
        return False

    async def wait_room(self) -> None:
        """Wait until fewer than `coalesce_at` events are queued (or the queue overflowed)."""
        while len(self) >= self._coalesce_at and not self.overflowed:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def pop(self) -> dict[str, Any] | None:
        """The next event, or None when the queue is empty (or has overflowed)."""
        items = self._items
        if not items or self.overflowed:
            return None
        item = items.popleft()
        self._bytes -= _size(item)
        if not items:
            self._items = None  # an idle socket keeps no deque
        if self._room is not None and len(self) < self._coalesce_at:
            self._room.set()
        return item
