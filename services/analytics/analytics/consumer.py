"""Analytics consumer: usage and billing events -> read models. `python -m analytics.consumer`.

Runs the durable consumers "analytics-usage" (USAGE, usage.recorded.>) and
"analytics-billing" (BILLING, billing.>) side by side. Lag is the shared
`consumer_pending_messages{stream,consumer}` gauge, served on
`ANALYTICS_CONSUMER_METRICS_PORT`/metrics.
"""

from __future__ import annotations

import asyncio

from aiaas.worker import WorkerContext, run_consumer_worker
from analytics.config import AnalyticsSettings
from analytics.rollups.consumers import CONSUMER_NAMES, runners

__all__ = ["main"]


def main() -> None:
    settings = AnalyticsSettings(service_name="analytics-consumer")

    async def consume(worker: WorkerContext) -> None:
        work = runners(worker.js, worker.sessions, batch_size=settings.consumer_batch_size)
        await asyncio.gather(*(runner.run(worker.stop) for runner in work.values()))

    run_consumer_worker(
        settings,
        consume,
        database_url=settings.database_url,
        consumers=CONSUMER_NAMES,
        metrics_port=settings.consumer_metrics_port,
        metrics_host=settings.consumer_metrics_host,
    )


if __name__ == "__main__":
    main()
