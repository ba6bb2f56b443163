"""`stop_tasks` ends tasks that swallow a cancellation, as a retry loop around Python 3.11's `wait_for` can."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aiaas.tasks import stop_tasks


async def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def retry_loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed < 2:  # what wait_for does when the awaited call completed at that moment
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(retry_loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks(task, recancel_s=0.01), 2.0)
    assert task.cancelled() and swallowed == 2


async def test_finished_failed_and_missing_tasks(caplog: pytest.LogCaptureFixture) -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    done = asyncio.create_task(asyncio.sleep(0, result=7))
    failed = asyncio.create_task(fail(), name="the-failing-one")
    running = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="aiaas.tasks"):
        await stop_tasks(done, failed, None, running)
    assert done.result() == 7 and running.cancelled()
    assert [r.getMessage() for r in caplog.records] == ["background task the-failing-one had failed"]
