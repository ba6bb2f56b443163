"""The saver's (de)serialisation on the event loop instead of a thread hop.

`AsyncPostgresSaver` hands `_dump_blobs`, `_dump_writes` and `_load_writes` to `asyncio.to_thread` on every put and
read: ~12 hops per 4-step episode at durability sync, each a thread wake-up, a GIL hand-over and a self-pipe write
back to the loop, for a few hundred bytes of msgpack. `SaverInlineExecutor`, set as the loop's default executor,
runs exactly those bound methods of a LangGraph Postgres saver inline and passes everything else (DNS look-ups,
file reads, other libraries' `to_thread`) to its thread pool as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from langgraph.checkpoint.postgres.base import BasePostgresSaver

__all__ = ["SaverInlineExecutor", "install_saver_inline_executor"]


def _saver_call(fn: Callable[..., Any]) -> bool:
    """Is `fn` (as `to_thread` wraps it: `partial(Context.run, method, ...)`) a method of a Postgres saver?"""
    target: Any = fn
    if isinstance(target, functools.partial):
        if isinstance(getattr(target.func, "__self__", None), contextvars.Context) and target.args:
            target = target.args[0]
        else:
            target = target.func
    return isinstance(getattr(target, "__self__", None), BasePostgresSaver)


class SaverInlineExecutor(ThreadPoolExecutor):
    """A thread pool that runs a Postgres saver's own (de)serialisation calls in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if not _saver_call(fn):
            return super().submit(fn, *args, **kwargs)
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine, as the thread would
            future.set_exception(exc)
        return future


def install_saver_inline_executor(loop: asyncio.AbstractEventLoop | None = None) -> SaverInlineExecutor:
    """Make the running (or given) loop's default executor a `SaverInlineExecutor`; returns it (shut it down at
    exit like any executor: `loop.shutdown_default_executor()` does)."""
    executor = SaverInlineExecutor(thread_name_prefix="asyncio")
    (loop or asyncio.get_running_loop()).set_default_executor(executor)
    return executor
