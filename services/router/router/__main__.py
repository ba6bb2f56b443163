"""`python -m router [serve] [--host H] [--port P]` runs the router API; `python -m router consume` its consumer.

The consumer projects decisions into `router_decisions` and turns the usage of routed requests (errors, costs,
latency-objective misses) into rewards (router/consumers.py). The admin listener (versions, canary) is
`python -m router.admin`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiaas.serve import Command, run_service
from aiaas.worker import WorkerContext, run_consumer_worker
from router.config import RouterSettings

__all__ = ["CoalescingHttpProtocol", "main"]


class _HeadWithBody:
    """A transport that holds a response head until the body's first write and sends both in one write.

    uvicorn writes a response's head and body separately: two segments, so the gateway's reader of a decide reply
    wakes twice and the router pays two send calls (~0.5 ms of wall time per decision on the shared core). A held
    head goes out with the next write, or on its own at the loop's next turn (a HEAD reply, an interim 100).
    """

    __slots__ = ("_transport", "_held", "_flush")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._release()
            self._transport.write(held + data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._held = data
            self._flush = asyncio.get_running_loop().call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._release()
            self._transport.write(held)

    def _release(self) -> None:
        self._held = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._release()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write when the app sends head and body at once."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadWithBody(transport))  # type: ignore[arg-type]


def _consume(_args: argparse.Namespace) -> int:
    from router.consumers import CONSUMER_NAMES, runners

    settings = RouterSettings(service_name="router-consumer")

    async def consume(worker: WorkerContext) -> None:
        work = runners(
            worker.js,
            worker.sessions,
            batch_size=settings.consumer_batch_size,
            retry_window_s=settings.retry_window_s,
            default_latency_slo_ms=settings.default_latency_slo_ms,
        )
        await asyncio.gather(*(runner.run(worker.stop) for runner in work.values()))

    run_consumer_worker(
        settings,
        consume,
        database_url=settings.database_url,
        consumers=CONSUMER_NAMES,
        metrics_port=settings.consumer_metrics_port,
        metrics_host=settings.consumer_metrics_host,
    )
    return 0


CONSUME = Command(
    "consume",
    "project decisions into router_decisions and turn the usage of routed requests into rewards",
    _consume,
)


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m router",
        "router.app:create_app",
        port=RouterSettings().port,
        commands=[CONSUME],
        argv=argv,
        http=CoalescingHttpProtocol,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
