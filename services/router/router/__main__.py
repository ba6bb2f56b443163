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

from aiaas.http_protocol import CoalescingHttpProtocol
from aiaas.serve import Command, run_service
from aiaas.worker import WorkerContext, run_consumer_worker
from router.config import RouterSettings

__all__ = ["main"]


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
