"""Outbox relay process: `python -m gateway.outbox_relay` (cross-tenant, as platform_admin).

It must see every tenant's pending outbox rows to publish them in order (one `for update skip locked`
scan), which no per-tenant transaction can do; it serves nothing to tenants.
"""

from __future__ import annotations

import asyncio

import nats

from aiaas.db import create_engine, session_factory
from aiaas.events import EventPublisher, OutboxRelay, ensure_topology
from aiaas.observability.metrics import serve_metrics
from aiaas.worker import run_worker
from gateway.config import OutboxRelaySettings

__all__ = ["main"]


async def run(settings: OutboxRelaySettings, stop: asyncio.Event) -> None:
    engine = create_engine(settings.admin_database_url, pool_size=2, application_name="outbox-relay")
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="outbox-relay")
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=())
        relay = OutboxRelay(session_factory(engine), EventPublisher(js, timeout_s=settings.publish_timeout_s))
        await relay.run(stop)
    finally:
        # Everything handled is acked already: close without waiting on the drain timeout.
        await nc.close()
        await engine.dispose()


def main() -> None:
    settings = OutboxRelaySettings(service_name="outbox-relay")
    # GATEWAY_OUTBOX_RELAY_METRICS_PORT (+ GATEWAY_METRICS_HOST): what its container health check and a scraper reach.
    serve_metrics(settings.outbox_relay_metrics_port, settings.metrics_host)
    run_worker(settings, lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
