"""Stopping background tasks so that they really stop.

On Python 3.11 `asyncio.wait_for` swallows a cancellation that arrives just as the awaited operation
completes (cpython#86296; nats-py uses `wait_for` in requests, `next_msg` and KV watches). A task looping
around such a call then runs on, and a `task.cancel(); await task` waits for it forever. `stop_tasks`
cancels again until every task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["stop_tasks"]

_log = logging.getLogger(__name__)


async def stop_tasks(*tasks: asyncio.Task[Any] | None, recancel_s: float = 0.1) -> None:
    """Cancel the tasks (None and finished ones are skipped) and return once all have ended.

    A task that ended with an error other than its cancellation is logged, not raised: the caller is
    shutting down and the other tasks still have to be stopped.
    """
    pending = {task for task in tasks if task is not None and not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=recancel_s)
    for ended in tasks:
        if ended is None or ended.cancelled():
            continue
        error = ended.exception()
        if error is not None:
            _log.warning("background task %s had failed", ended.get_name(), exc_info=error)
