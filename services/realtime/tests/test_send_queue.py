"""SendQueue: deltas coalesce only when the client falls behind; hard limits overflow instead of growing."""

from __future__ import annotations

import asyncio

from realtime.connection.send_queue import SendQueue


def _delta(seq: int, text: str, response_id: str = "r1") -> dict[str, object]:
    return {
        "v": 1,
        "type": "response.delta",
        "conversation_id": "c",
        "seq": seq,
        "response_id": response_id,
        "delta": text,
    }


async def test_no_coalescing_while_the_client_keeps_up() -> None:
    queue = SendQueue(max_items=100, max_bytes=100_000, coalesce_at=4)
    for seq in range(1, 4):
        queue.put(_delta(seq, f"t{seq} "))
    assert [queue.pop()["seq"] for _ in range(3)] == [1, 2, 3]  # type: ignore[index]
    assert queue.pop() is None


async def test_deltas_of_one_reply_merge_keeping_the_last_seq() -> None:
    queue = SendQueue(max_items=100, max_bytes=100_000, coalesce_at=2)
    queue.put(_delta(1, "a"))
    queue.put({"v": 1, "type": "notice", "message": "hi"})
    for seq, text in ((2, "b"), (3, "c"), (4, "d")):
        queue.put(_delta(seq, text))
    queue.put(_delta(5, "x", response_id="r2"))
    queue.put(_delta(6, "y", response_id="r2"))
    got = [queue.pop() for _ in range(len(queue))]
    assert [(e["type"], e.get("seq"), e.get("delta")) for e in got if e is not None] == [
        ("response.delta", 1, "a"),
        ("notice", None, None),
        ("response.delta", 4, "bcd"),
        ("response.delta", 6, "xy"),
    ]
    assert queue.bytes == 0


async def test_overflow_empties_the_queue_and_tells_the_owner_once() -> None:
    calls: list[str] = []
    queue = SendQueue(
        max_items=8,
        max_bytes=100_000,
        coalesce_at=4,
        on_ready=lambda: calls.append("ready"),
        on_overflow=lambda: calls.append("overflow"),
    )
    for i in range(9):
        queue.put({"v": 1, "type": "notice", "message": str(i)})
    assert queue.overflowed and len(queue) == 0 and queue.bytes == 0
    assert queue.pop() is None
    queue.put({"v": 1, "type": "notice", "message": "late"})
    assert len(queue) == 0
    assert calls == ["ready", "overflow"]


async def test_ready_fires_when_the_queue_turns_non_empty() -> None:
    calls: list[str] = []
    queue = SendQueue(max_items=8, max_bytes=100_000, on_ready=lambda: calls.append("ready"))
    queue.put({"v": 1, "type": "pong"})
    queue.put({"v": 1, "type": "pong"})
    assert calls == ["ready"]
    assert queue.pop() is not None and queue.pop() is not None and queue.pop() is None
    queue.put({"v": 1, "type": "pong"})
    assert calls == ["ready", "ready"]


async def test_wait_room_waits_until_the_sender_drains_below_the_coalescing_point() -> None:
    queue = SendQueue(max_items=100, max_bytes=100_000, coalesce_at=2)
    queue.put({"v": 1, "type": "pong"})
    queue.put({"v": 1, "type": "pong"})
    waiter = asyncio.create_task(queue.wait_room())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    queue.pop()
    await asyncio.wait_for(waiter, 1)


async def test_byte_limit_counts_merged_text() -> None:
    queue = SendQueue(max_items=100, max_bytes=4096, coalesce_at=1)
    queue.put(_delta(1, "x"))
    for seq in range(2, 100):
        queue.put(_delta(seq, "y" * 100))
    assert queue.overflowed
