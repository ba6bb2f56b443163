"""`SaverInlineExecutor`: a Postgres saver's own `to_thread` calls run on the loop's thread, everything else in the
pool's threads as before; results and errors reach the awaiting coroutine either way."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from aiaas.checkpoints.inline import SaverInlineExecutor, install_saver_inline_executor


class _Saver(AsyncPostgresSaver):
    """A saver whose (de)serialisation methods say which thread ran them; never connected."""

    def __init__(self) -> None:
        super().__init__(conn=None)  # type: ignore[arg-type]  # only its methods are called here

    def _load_writes(self, writes: Any) -> Any:  # type: ignore[override]
        return threading.get_ident(), writes

    def _dump_blobs(self, *args: Any) -> Any:  # type: ignore[override]
        raise ValueError("bad blob")


def test_saver_methods_run_inline_and_others_in_a_thread() -> None:
    """On a loop of its own (asyncio.run): installing a default executor, then shutting it down, on the suite's
    shared loop would leave every later `to_thread` of the session failing ("cannot schedule new futures after
    shutdown")."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        executor = install_saver_inline_executor()
        saver = _Saver()
        here = threading.get_ident()
        assert await asyncio.to_thread(saver._load_writes, ["w"]) == (here, ["w"])
        with pytest.raises(ValueError, match="bad blob"):
            await asyncio.to_thread(saver._dump_blobs, "t", "", {}, {})
        assert await asyncio.to_thread(threading.get_ident) != here
        assert await loop.run_in_executor(None, threading.get_ident) != here
        assert loop._default_executor is executor  # type: ignore[attr-defined]  # asyncio.run shuts it down

    asyncio.run(body())


@pytest.mark.asyncio
async def test_a_saver_method_submitted_directly_runs_inline_too() -> None:
    saver = _Saver()
    executor = SaverInlineExecutor(max_workers=1)
    try:
        here = threading.get_ident()
        assert executor.submit(saver._load_writes, [1]).result() == (here, [1])
        assert executor.submit(threading.get_ident).result() != here
    finally:
        executor.shutdown(wait=True)
