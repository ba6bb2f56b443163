"""`aiaas.batcher`: linger, max size, one batch in flight, per-item errors, backpressure, flush and close."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaas.batcher import Batcher, BatcherClosed, BatcherFull, FlushCancelled


class Recorder:
    """A sink that records every batch; answers each item doubled, or a ValueError for negative items."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay_s = delay_s
        self.gate: asyncio.Event | None = None

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay_s)
        return [ValueError(f"bad item {item}") if item < 0 else item * 2 for item in items]

    @property
    def sent(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


async def test_an_awaited_submit_on_an_idle_batcher_goes_at_once_in_its_own_task() -> None:
    sink = Recorder()
    batcher = Batcher(sink)
    assert await batcher.submit(21) == 42
    assert sink.batches == [[21]] and batcher.pending == 0


async def test_items_linger_for_company_then_go_together() -> None:
    sink = Recorder()
    batcher = Batcher(sink, linger_s=0.05)
    started = time.monotonic()
    futures = [batcher.submit_nowait(i) for i in range(5)]
    await asyncio.sleep(0.01)
    assert sink.batches == [] and batcher.pending == 5  # still lingering
    assert await asyncio.gather(*futures) == [0, 2, 4, 6, 8]
    assert sink.batches == [[0, 1, 2, 3, 4]] and time.monotonic() - started >= 0.045


async def test_a_full_batch_does_not_linger_and_the_overflow_follows_it_at_once() -> None:
    sink = Recorder()
    batcher = Batcher(sink, linger_s=60.0, max_size=3)
    futures = [batcher.submit_nowait(i) for i in range(7)]
    assert await asyncio.wait_for(asyncio.gather(*futures), 1.0) == [0, 2, 4, 6, 8, 10, 12]
    assert sink.batches == [[0, 1, 2], [3, 4, 5], [6]]  # queued during a flight: no linger
    lone = batcher.submit_nowait(7)  # the first item of a quiet spell lingers again
    await asyncio.sleep(0.01)
    assert not lone.done() and batcher.pending == 1
    await batcher.flush()
    assert lone.result() == 14 and sink.batches[-1] == [7]


async def test_an_item_that_does_not_linger_takes_the_lingering_ones_with_it() -> None:
    sink = Recorder()
    batcher = Batcher(sink, linger_s=60.0)
    early = [batcher.submit_nowait(i) for i in range(3)]
    assert await asyncio.wait_for(batcher.submit(3, linger=False), 1.0) == 6
    assert sink.batches == [[0, 1, 2, 3]] and all(f.done() for f in early)


async def test_items_submitted_during_a_flight_form_the_next_batch() -> None:
    sink = Recorder()
    sink.gate = asyncio.Event()
    batcher = Batcher(sink)
    first = batcher.submit_nowait(0)
    await asyncio.sleep(0)  # the first batch is in flight, held at the gate
    rest = [batcher.submit_nowait(i) for i in range(1, 6)]
    assert batcher.pending == 6
    sink.gate.set()
    await asyncio.gather(first, *rest)
    assert sink.batches == [[0], [1, 2, 3, 4, 5]]


async def test_one_bad_item_fails_only_its_own_submitter() -> None:
    batcher = Batcher(Recorder(), linger_s=0.01)
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, -2, 3)), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad item -2"


async def test_a_sink_that_raises_fails_its_batch_and_the_batcher_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def flaky(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return list(items)

    batcher = Batcher(flaky, linger_s=0.01, name="flaky")
    first = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in first)
    assert "flaky: a batch of 3 items failed" in caplog.text
    assert await batcher.submit(7) == 7


async def test_a_sink_answering_the_wrong_number_of_results_fails_the_batch() -> None:
    async def short(items: list[int]) -> list[int | Exception]:
        return list(items[1:])

    batcher = Batcher(short, linger_s=0.01)
    with pytest.raises(ValueError, match="2 results for 3 items"):
        await asyncio.gather(*(batcher.submit(i) for i in range(3)))


async def test_a_forgotten_failing_future_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    batcher = Batcher(Recorder())
    batcher.submit_nowait(-1)  # fire and forget
    await batcher.flush()
    gc.collect()
    await asyncio.sleep(0)
    assert "exception was never retrieved" not in caplog.text


async def test_a_cancelled_submitter_still_has_its_item_sent_and_the_others_answered() -> None:
    sink = Recorder()
    sink.gate = asyncio.Event()
    batcher = Batcher(sink)
    blocker = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    tasks[2].cancel()
    sink.gate.set()
    results = await asyncio.gather(blocker, *tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 2, 4, 8, 10]
    assert sink.sent == [0, 1, 2, 3, 4, 5]


async def test_cancelling_the_submitter_that_sends_fails_its_batch_and_the_next_batch_goes() -> None:
    sink = Recorder()
    sink.gate = asyncio.Event()
    batcher = Batcher(sink, linger_s=60.0)
    lingering = batcher.submit_nowait(1)
    sender = asyncio.create_task(batcher.submit(2, linger=False))  # sends [1, 2] from its own task
    await asyncio.sleep(0)
    later = batcher.submit_nowait(3)  # queued behind the flight
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    with pytest.raises(FlushCancelled):
        await lingering
    sink.gate.set()
    assert await asyncio.wait_for(later, 1.0) == 6
    assert sink.batches == [[1, 2], [3]] and batcher.pending == 0


async def test_submit_waits_for_room_and_submit_nowait_refuses_when_full() -> None:
    sink = Recorder()
    sink.gate = asyncio.Event()
    batcher = Batcher(sink, max_size=2, max_pending=3)
    futures = [batcher.submit_nowait(i) for i in range(3)]
    with pytest.raises(BatcherFull):
        batcher.submit_nowait(3)
    waiting = asyncio.create_task(batcher.submit(4))
    await asyncio.sleep(0.01)
    assert not waiting.done() and batcher.pending == 3
    sink.gate.set()
    assert await asyncio.wait_for(waiting, 1.0) == 8
    assert await asyncio.gather(*futures) == [0, 2, 4]
    assert sink.sent == [0, 1, 2, 4]


async def test_flush_sends_lingering_items_and_waits_for_the_flight() -> None:
    sink = Recorder(delay_s=0.02)
    batcher = Batcher(sink, linger_s=60.0)
    futures = [batcher.submit_nowait(i) for i in range(4)]
    await asyncio.wait_for(batcher.flush(), 1.0)
    assert all(f.done() for f in futures) and batcher.pending == 0
    await batcher.flush()  # nothing to do: returns at once


async def test_close_sends_everything_accepted_and_refuses_the_rest() -> None:
    sink = Recorder()
    sink.gate = asyncio.Event()
    batcher = Batcher(sink, linger_s=60.0, max_pending=2)
    accepted = [batcher.submit_nowait(1), batcher.submit_nowait(2)]
    waiting = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    closing = asyncio.create_task(batcher.aclose())
    await asyncio.sleep(0)
    with pytest.raises(BatcherClosed):
        await waiting
    with pytest.raises(BatcherClosed):
        batcher.submit_nowait(4)
    with pytest.raises(BatcherClosed):
        await batcher.submit(5)
    sink.gate.set()
    await asyncio.wait_for(closing, 1.0)
    assert await asyncio.gather(*accepted) == [2, 4] and sink.sent == [1, 2]


async def test_a_cancelled_room_waiter_passes_its_room_on() -> None:
    sink = Recorder()
    sink.gate = asyncio.Event()
    batcher = Batcher(sink, max_pending=1)
    first = batcher.submit_nowait(1)
    second = asyncio.create_task(batcher.submit(2))
    third = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    second.cancel()
    sink.gate.set()
    assert await asyncio.wait_for(third, 1.0) == 6 and await first == 2
    assert sink.sent == [1, 3]


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[int, int | None, float, list[tuple[str, float]]]:
    max_size = draw(st.integers(min_value=1, max_value=6))
    max_pending = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=10)))
    linger_s = draw(st.sampled_from([0.0, 0.0, 0.001, 0.003]))
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["nowait", "submit", "urgent", "flush"]),
                st.sampled_from([0.0, 0.0, 0.0, 0.001, 0.002]),
            ),
            max_size=40,
        )
    )
    return max_size, max_pending, linger_s, steps


@settings(max_examples=60, deadline=None)
@given(scenario=_scenarios(), sink_delay_s=st.sampled_from([0.0, 0.001]))
async def test_every_item_is_sent_exactly_once_in_order_in_batches_of_at_most_max_size(
    scenario: tuple[int, int | None, float, list[tuple[str, float]]], sink_delay_s: float
) -> None:
    max_size, max_pending, linger_s, steps = scenario
    sink = Recorder(delay_s=sink_delay_s)
    in_flight = 0
    most_in_flight = 0
    most_pending = 0

    async def watched(items: list[int]) -> list[int | Exception]:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            return await sink(items)
        finally:
            in_flight -= 1

    batcher: Batcher[int, int] = Batcher(watched, linger_s=linger_s, max_size=max_size, max_pending=max_pending)
    submitted: list[int] = []
    outcomes: dict[int, asyncio.Future[int]] = {}
    tasks: list[asyncio.Task[int]] = []
    for item, (how, pause) in enumerate(steps):
        if how == "flush":
            await batcher.flush()
        elif how == "nowait":
            try:
                outcomes[item] = batcher.submit_nowait(item)
                submitted.append(item)
            except BatcherFull:
                # full, or the room is promised to a submitter that waited for it
                assert max_pending is not None
                assert batcher.pending >= max_pending or any(not task.done() for task in tasks)
        else:
            submitted.append(item)  # awaited submits queue in the order they start (room is FIFO)
            tasks.append(asyncio.create_task(batcher.submit(item, linger=how != "urgent")))
            await asyncio.sleep(0)
        most_pending = max(most_pending, batcher.pending)
        if pause:
            await asyncio.sleep(pause)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5.0)
    await asyncio.wait_for(batcher.aclose(), 5.0)

    if max_pending is None:
        assert sink.sent == submitted  # every item once, in submission order
    else:  # a submitter that waited for room is accepted when it resumes: still once each, nowait ones in order
        assert sorted(sink.sent) == submitted
        assert [item for item in sink.sent if item in outcomes] == sorted(outcomes)
    assert all(1 <= len(batch) <= max_size for batch in sink.batches)
    assert most_in_flight <= 1 and batcher.pending == 0
    if max_pending is not None:
        assert most_pending <= max_pending
    assert all(f.result() == item * 2 for item, f in outcomes.items())
    assert all(result % 2 == 0 for result in results)
