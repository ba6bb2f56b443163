"""Analytics consumer: usage and billing events -> read models. `python -m analytics.consumer`.

Runs the durable consumers "analytics-usage" (USAGE, usage.recorded.>) and
"analytics-billing" (BILLING, billing.>) side by side. Lag is the shared
`consumer_pending_messages{stream,consumer}` gauge, served on
`ANALYTICS_CONSUMER_METRICS_PORT`/metrics.
"""

from __future__ import annotations

import asyncio

import nats

from aiaas.db import create_engine, session_factory
from aiaas.events.topology import ensure_topology
from aiaas.observability.metrics import serve_metrics
from aiaas.worker import run_worker
from analytics.config import AnalyticsSettings
from analytics.rollups.consumers import CONSUMER_NAMES, runners

__all__ = ["run", "main"]


async def run(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    engine = create_engine(settings.database_url, pool_size=2, application_name="analytics-consumer")
    nc = await nats.connect(
        settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="analytics-consumer"
    )
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=CONSUMER_NAMES)
        sessions = session_factory(engine)
        work = runners(js, sessions, batch_size=settings.consumer_batch_size)
        await asyncio.gather(*(runner.run(stop) for runner in work.values()))
    finally:
        # Everything handled is acked already: close without waiting on the drain timeout.
        await nc.close()
        await engine.dispose()


def main() -> None:
    settings = AnalyticsSettings(service_name="analytics-consumer")
    serve_metrics(settings.consumer_metrics_port, settings.consumer_metrics_host)
    run_worker(settings, lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
