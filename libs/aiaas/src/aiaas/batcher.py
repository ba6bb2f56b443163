"""One way to batch: items submitted one at a time reach a sink in batches; each submitter gets its own outcome.

A batch goes when `max_size` items are queued, when the first item of a quiet spell has waited `linger_s` for
company (like a producer's linger.ms), or at once for an item submitted with `linger=False`. One batch is in
flight at a time: items submitted meanwhile form the next one, sent as soon as the first is answered, so batches
grow with the load by themselves. Every item reaches the sink exactly once and in submission order, whatever
happens to its submitter (a cancelled submitter's item is still sent; its outcome is dropped).

The sink answers each item with a value or an `Exception` (as a value), so one bad item fails only its own
submitter; a sink that raises fails its whole batch with that error. The sink knows what an error means and
logs it; the batcher marks every error retrieved, so a fire-and-forget item (`submit_nowait`, future dropped)
does not warn again when garbage collected.

`max_pending` bounds the items queued or in flight: `submit` waits for room, `submit_nowait` raises
`BatcherFull`. `flush` sends everything without lingering and returns once nothing is queued or in flight;
`aclose` also refuses new items, so a graceful stop loses none.

On an idle path `await submit(item)` that does not linger sends the batch from the submitter's own task (no
task switch); should that task be cancelled mid-flight, the other items of its batch fail with `FlushCancelled`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher", "BatcherClosed", "BatcherFull", "FlushCancelled", "Sink"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Sends a batch; answers per item, in order, a result or the item's error (R must not be an exception type).
Sink = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class BatcherClosed(RuntimeError):
    """The batcher was closed: it takes no new items."""


class BatcherFull(RuntimeError):
    """`submit_nowait` found `max_pending` items queued or in flight."""


class FlushCancelled(RuntimeError):
    """The flush carrying this item was cancelled before the sink answered; the item's fate is unknown."""


class Batcher(Generic[T, R]):
    """Queues items and sends them to `sink` in batches of at most `max_size`, one batch at a time."""

    def __init__(
        self,
        sink: Sink[T, R],
        *,
        linger_s: float = 0.0,
        max_size: int = 256,
        max_pending: int | None = None,
        name: str = "batcher",
    ) -> None:
        if max_size < 1 or (max_pending is not None and max_pending < 1):
            raise ValueError("max_size and max_pending must be at least 1")
        self._sink = sink
        self._linger_s = linger_s
        self._max_size = max_size
        self._max_pending = max_pending
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
        # A batch is being sent, by the flusher task or by a submitter's own task.
        self._busy = False
        self._flusher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        # Submitters waiting for room (FIFO), and how many were granted room but have not queued yet.
        self._room: deque[asyncio.Future[None]] = deque()
        self._granted = 0
        self._idle: list[asyncio.Future[None]] = []

    @property
    def pending(self) -> int:
        """Items queued or in flight."""
        return len(self._queue) + self._in_flight

    def submit_nowait(self, item: T) -> asyncio.Future[R]:
        """Queue `item` (it lingers like any other); the future gets its outcome. Raises `BatcherFull`."""
        if self._closed:
            raise BatcherClosed(f"{self._name} is closed")
        if self._max_pending is not None and not self._has_room():
            raise BatcherFull(f"{self._name} has {self._max_pending} items pending")
        return self._enqueue(item, linger=True)

    async def submit(self, item: T, *, linger: bool = True) -> R:
        """Queue `item` once there is room and return its outcome (or raise its error).

        `linger=False` sends it with the next batch without waiting for company: at once when none is in flight.
        """
        if self._closed:
            raise BatcherClosed(f"{self._name} is closed")
        if self._max_pending is not None:
            await self._wait_for_room()
        if self._busy or (linger and self._linger_s > 0):
            return await self._enqueue(item, linger=linger)
        done = self._append(item)
        await self._send_inline()
        return done.result() if done.done() else await done

    async def flush(self) -> None:
        """Send everything queued now, without lingering; return once nothing is queued or in flight."""
        if not self._busy:
            if not self._queue:
                return
            self._start_flusher()
        idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle.append(idle)
        await idle

    async def aclose(self) -> None:
        """Refuse new items (waiting submitters get `BatcherClosed`) and send every accepted one."""
        self._closed = True
        while self._room:
            waiter = self._room.popleft()
            if not waiter.done():
                waiter.set_exception(BatcherClosed(f"{self._name} is closed"))
        await self.flush()

    def _append(self, item: T) -> asyncio.Future[R]:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        return done

    def _enqueue(self, item: T, *, linger: bool) -> asyncio.Future[R]:
        done = self._append(item)
        if self._busy:
            pass  # goes with the next batch, right after the one in flight
        elif not linger or self._linger_s <= 0 or len(self._queue) >= self._max_size:
            self._start_flusher()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._start_flusher)
        return done

    def _start_flusher(self) -> None:
        self._cancel_timer()
        if not self._busy and self._queue:
            self._busy = True
            self._flusher = asyncio.create_task(self._send_queued(), name=self._name)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _send_queued(self) -> None:
        try:
            while self._queue:
                await self._send(self._take())
        except BaseException:
            # Cancelled (the loop is going away): nobody may wait forever.
            queued, self._queue = self._queue, []
            _fail(queued, FlushCancelled(f"{self._name} was stopped"))
            raise
        finally:
            self._flusher = None
            self._busy = False
            self._wake_idle()

    async def _send_inline(self) -> None:
        self._cancel_timer()
        self._busy = True
        try:
            await self._send(self._take())
        finally:
            self._busy = False
            if self._queue:  # queued while we sent: they go next, at once
                self._start_flusher()
            else:
                self._wake_idle()

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        if len(self._queue) <= self._max_size:
            batch, self._queue = self._queue, []
        else:
            batch = self._queue[: self._max_size]
            del self._queue[: self._max_size]
        return batch

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self._in_flight = len(batch)
        results: Sequence[R | Exception]
        try:
            results = await self._sink([item for item, _ in batch])
            if len(results) != len(batch):
                raise ValueError(f"the sink answered {len(results)} results for {len(batch)} items")
        except Exception as exc:  # not hidden: logged here, and every item's submitter gets it
            log.error("%s: a batch of %d items failed", self._name, len(batch), exc_info=exc)
            results = [exc] * len(batch)
        except BaseException:
            _fail(batch, FlushCancelled(f"{self._name}: the flush was cancelled"))
            raise
        finally:
            self._in_flight = 0
            self._make_room()
        for (_, done), result in zip(batch, results, strict=True):
            if done.done():  # its submitter was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                done.set_exception(result)
                done.exception()  # retrieved: a fire-and-forget submitter need not await it
            else:
                done.set_result(result)

    def _has_room(self) -> bool:
        assert self._max_pending is not None
        return not self._room and self.pending + self._granted < self._max_pending

    async def _wait_for_room(self) -> None:
        if self._has_room():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._granted -= 1  # room was granted, but we were cancelled: pass it on
                self._make_room()
            elif waiter in self._room:
                self._room.remove(waiter)
            raise
        self._granted -= 1
        if self._closed:
            raise BatcherClosed(f"{self._name} is closed")

    def _make_room(self) -> None:
        if self._max_pending is None:
            return
        while self._room and self.pending + self._granted < self._max_pending:
            waiter = self._room.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._granted += 1

    def _wake_idle(self) -> None:
        waiters, self._idle = self._idle, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _fail(entries: list[tuple[T, asyncio.Future[R]]], error: Exception) -> None:
    for _, done in entries:
        if not done.done():
            done.set_exception(error)
            done.exception()
