"""Parsing in worker processes under a time limit: pypdf (or trafilatura, markdown-it) on a hostile file can spin.

A thread cannot be stopped, a process can. `ParseWorkers` keeps `size` warm processes (started with `spawn`: they
share nothing with the event loop's threads or the embedder's); a parse takes an idle one, hands it the bytes and
waits at most `timeout_s` for the sections. A worker past its limit is killed and replaced, and the file is
`ParseTimeout` (the API's 422 `parse_timeout`, the pipeline's failed version); a worker that dies (a crash, memory)
is replaced too and the file is unparsable. Every type goes this way, so there is one path and one limit.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ingestion.parsing.errors import ParseError, UnparsableDocument, UnsupportedMediaType
from ingestion.parsing.parsers import ParsedDocument, parse

__all__ = ["ParseTimeout", "ParseWorkers"]

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("spawn")
_START_TIMEOUT_S = 60.0
_ERRORS: dict[str, type[ParseError]] = {
    cls.__name__: cls for cls in (ParseError, UnparsableDocument, UnsupportedMediaType)
}


class ParseTimeout(UnparsableDocument):
    """The file took longer than the parse limit (a hostile or pathological file)."""

    code = "parse_timeout"


def _serve(conn: Connection) -> None:
    """A worker's loop: (bytes, file name, media type) in, ("ok", document) or ("error", class, message) out.

    The parsers' libraries are imported first and "ready" sent, so the limit times parsing, not imports."""
    import pypdf  # noqa: F401
    import trafilatura  # noqa: F401

    conn.send(("ready",))
    while True:
        try:
            data, filename, media_type = conn.recv()
        except EOFError:  # the parent is gone
            return
        try:
            reply: tuple[Any, ...] = ("ok", parse(data, filename, media_type))
        except ParseError as exc:
            reply = ("error", type(exc).__name__, exc.message)
        except Exception as exc:  # noqa: BLE001 - a parser bug on odd input: report it, keep serving
            logging.getLogger(__name__).exception("parser failed")
            reply = ("crash", repr(exc)[:500])
        conn.send(reply)


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


def _start_worker() -> _Worker:
    """A worker process, returned once it is ready to parse."""
    parent, child = _CONTEXT.Pipe()
    process = _CONTEXT.Process(target=_serve, args=(child,), name="ingestion-parse", daemon=True)
    process.start()
    child.close()
    worker = _Worker(process, parent)
    try:
        if parent.poll(_START_TIMEOUT_S) and parent.recv() == ("ready",):
            return worker
    except (EOFError, OSError):
        pass
    worker.kill()
    raise RuntimeError(f"a parse worker did not start within {_START_TIMEOUT_S:g} s")


class ParseWorkers:
    """`size` parse processes, each parse limited to `timeout_s`; started on first use or by `start()`."""

    def __init__(self, size: int = 2, timeout_s: float = 20.0) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._started = False
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the workers (a spawn imports the parsers: ~0.2 s each, done in parallel off the loop)."""
        if self._started:
            return
        self._started = True
        await asyncio.gather(*(self._add_worker() for _ in range(self.size)))

    async def parse(self, data: bytes, filename: str, media_type: str) -> ParsedDocument:
        """`parse(data, filename, media_type)` in a worker; ParseTimeout past the limit."""
        if self._closed:
            raise RuntimeError("the parse workers are closed")
        await self.start()
        worker = await self._idle.get()
        try:
            reply = await asyncio.to_thread(self._round_trip, worker, (data, filename, media_type))
        except BaseException:
            self._replace(worker)  # cancelled mid-parse: the worker is busy with a file nobody waits for
            raise
        if reply is None:
            self._replace(worker)
            log.warning("parse timed out", extra={"media_type": media_type, "bytes": len(data)})
            raise ParseTimeout(f"The file took longer than {self.timeout_s:g} s to parse.")
        if reply[0] == "died":
            self._replace(worker)
            log.error("parse worker died", extra={"media_type": media_type, "bytes": len(data)})
            raise UnparsableDocument("The file could not be parsed.")
        self._idle.put_nowait(worker)
        if reply[0] == "ok":
            document: ParsedDocument = reply[1]
            return document
        if reply[0] == "error":
            raise _ERRORS.get(reply[1], UnparsableDocument)(reply[2])
        log.error("parser failed", extra={"media_type": media_type, "error": reply[1]})
        raise UnparsableDocument("The file could not be parsed.")

    def _round_trip(self, worker: _Worker, request: tuple[bytes, str, str]) -> tuple[Any, ...] | None:
        """The worker's reply, None when it did not come within the limit, ("died",) when the worker is gone."""
        try:
            worker.conn.send(request)
            if not worker.conn.poll(self.timeout_s):
                return None
            reply: tuple[Any, ...] = worker.conn.recv()
            return reply
        except (EOFError, OSError):
            return ("died",)

    def _replace(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()
        if not self._closed:
            task = asyncio.get_running_loop().create_task(self._add_worker())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _add_worker(self) -> None:
        worker = await asyncio.to_thread(_start_worker)
        if self._closed:
            worker.kill()
            return
        self._all.add(worker)
        self._idle.put_nowait(worker)

    async def aclose(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            await task
        workers, self._all = list(self._all), set()
        await asyncio.gather(*(asyncio.to_thread(worker.kill) for worker in workers))
