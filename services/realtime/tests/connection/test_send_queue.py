"""SendQueue: deltas coalesce only when the client falls behind; hard limits overflow instead of growing."""

from __future__ import annotations

import asyncio

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- properties ---------------------------------------------------------------------------
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("delta"), st.sampled_from(["r1", "r2"]), st.text(min_size=1, max_size=300)),
        st.tuples(st.just("notice"), st.just(""), st.text(max_size=300)),
        st.tuples(st.just("pop"), st.just(""), st.just("")),
    ),
    max_size=120,
)


def _expected_size(item: dict[str, object]) -> int:
    if item["type"] == "response.delta":
        return 160 + len(str(item["delta"]))
    return len(orjson.dumps(item))


@settings(max_examples=300, deadline=None)
@given(
    ops=_ops,
    max_items=st.integers(8, 64),
    max_bytes=st.integers(4096, 20_000),
    coalesce_at=st.integers(1, 16),
)
def test_the_queue_stays_within_its_limits_or_overflows_for_good(
    ops: list[tuple[str, str, str]], max_items: int, max_bytes: int, coalesce_at: int
) -> None:
    overflows: list[int] = []
    queue = SendQueue(
        max_items=max_items, max_bytes=max_bytes, coalesce_at=coalesce_at, on_overflow=lambda: overflows.append(1)
    )
    seq = 0
    for kind, response_id, text in ops:
        if kind == "pop":
            queue.pop()
        elif kind == "delta":
            seq += 1
            queue.put(_delta(seq, text, response_id))
        else:
            queue.put({"v": 1, "type": "notice", "message": text})
        if queue.overflowed:
            assert len(queue) == 0 and queue.bytes == 0
        else:
            assert len(queue) <= max_items and queue.bytes <= max_bytes
    assert len(overflows) == (1 if queue.overflowed else 0)
    counted = queue.bytes
    assert counted == sum(_expected_size(item) for item in iter(queue.pop, None))
    assert queue.bytes == 0


@settings(max_examples=300, deadline=None)
@given(ops=_ops, coalesce_at=st.integers(1, 16))
def test_coalescing_never_loses_or_reorders_text(ops: list[tuple[str, str, str]], coalesce_at: int) -> None:
    queue = SendQueue(max_items=10_000, max_bytes=10_000_000, coalesce_at=coalesce_at)
    sent: dict[str, str] = {"r1": "", "r2": ""}
    received: dict[str, str] = {"r1": "", "r2": ""}
    seqs: dict[str, list[int]] = {"r1": [], "r2": []}

    def take(item: dict[str, object] | None) -> None:
        if item is not None and item["type"] == "response.delta":
            rid = str(item["response_id"])
            received[rid] += str(item["delta"])
            seqs[rid].append(int(str(item["seq"])))

    seq = 0
    for kind, response_id, text in ops:
        if kind == "pop":
            take(queue.pop())
        elif kind == "delta":
            seq += 1
            sent[response_id] += text
            queue.put(_delta(seq, text, response_id))
        else:
            queue.put({"v": 1, "type": "notice", "message": text})
    for item in iter(queue.pop, None):
        take(item)
    assert not queue.overflowed
    assert received == sent
    assert all(a < b for rid in seqs for a, b in zip(seqs[rid], seqs[rid][1:], strict=False))
    assert queue.bytes == 0 and len(queue) == 0
