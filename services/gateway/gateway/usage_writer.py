"""Usage writer: consumes `usage.recorded` events into `requests` rows (idempotent by event id).

Run as its own process: `python -m gateway.usage_writer`. Rows are written in batches, one transaction per
tenant under that tenant's RLS context (gateway.usage.consumers); a redelivered event hits
`on conflict (event_id) do nothing`, so nothing counts twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats

from aiaas.db import create_engine, session_factory
from aiaas.events import CONSUMERS, ConsumerRunner, Received, ensure_topology
from aiaas.observability.metrics import serve_metrics
from aiaas.worker import run_worker
from gateway.config import GatewaySettings
from gateway.usage.consumers import write_usage

__all__ = ["main"]


async def run(settings: GatewaySettings, stop: asyncio.Event) -> None:
    engine = create_engine(settings.database_url, pool_size=2, application_name="usage-writer")
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="usage-writer")
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=("usage-writer",))
        sessions = session_factory(engine)

        async def handle(batch: Sequence[Received]) -> None:
            await write_usage(sessions, batch)

        await ConsumerRunner(js, CONSUMERS["usage-writer"], handle, batch_size=500).run(stop)
    finally:
        # Everything handled is acked already: close without waiting on the drain timeout.
        await nc.close()
        await engine.dispose()


def main() -> None:
    settings = GatewaySettings(service_name="usage-writer")
    serve_metrics(settings.usage_writer_metrics_port, settings.metrics_host)
    run_worker(settings, lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
