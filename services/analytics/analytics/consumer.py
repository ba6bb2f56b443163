"""Analytics consumer: usage and billing events -> read models. `python -m analytics.consumer`.

Runs the durable consumers "analytics-usage" (USAGE, usage.recorded.>) and
"analytics-billing" (BILLING, billing.>) side by side. Lag is the shared
`consumer_pending_messages{stream,consumer}` gauge, served on
`ANALYTICS_CONSUMER_METRICS_PORT`/metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import create_engine, session_factory
from aiaas.events import CONSUMERS, ConsumerRunner, Received
from aiaas.events.topology import ensure_topology
from aiaas.observability.metrics import serve_metrics
from aiaas.worker import run_worker
from analytics.config import AnalyticsSettings
from analytics.projection import apply_billing, apply_usage

__all__ = ["USAGE_CONSUMER", "BILLING_CONSUMER", "runners", "run", "main"]

USAGE_CONSUMER = "analytics-usage"
BILLING_CONSUMER = "analytics-billing"


def runners(
    js: JetStreamContext, sessions: async_sessionmaker[AsyncSession], *, batch_size: int
) -> dict[str, ConsumerRunner]:
    """One runner per analytics consumer, keyed by consumer name."""

    async def on_usage(batch: Sequence[Received]) -> None:
        await apply_usage(sessions, [item.event for item in batch])

    async def on_billing(batch: Sequence[Received]) -> None:
        await apply_billing(sessions, [item.event for item in batch])

    return {
        USAGE_CONSUMER: ConsumerRunner(js, CONSUMERS[USAGE_CONSUMER], on_usage, batch_size=batch_size),
        BILLING_CONSUMER: ConsumerRunner(js, CONSUMERS[BILLING_CONSUMER], on_billing, batch_size=batch_size),
    }


async def run(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    engine = create_engine(settings.database_url, pool_size=2, application_name="analytics-consumer")
    nc = await nats.connect(
        settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="analytics-consumer"
    )
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=(USAGE_CONSUMER, BILLING_CONSUMER))
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
