"""Outbox relay process: `python -m gateway.outbox_relay` (cross-tenant, as platform_admin).

It must see every tenant's pending outbox rows to publish them in order (one `for update skip locked`
scan), which no per-tenant transaction can do; it serves nothing to tenants.
"""

from __future__ import annotations

from aiaas.events import EventPublisher, OutboxRelay
from aiaas.worker import WorkerContext, run_consumer_worker
from gateway.config import OutboxRelaySettings

__all__ = ["main"]


def main() -> None:
    settings = OutboxRelaySettings(service_name="outbox-relay")

    async def relay(worker: WorkerContext) -> None:
        publisher = EventPublisher(worker.js, timeout_s=settings.publish_timeout_s)
        await OutboxRelay(worker.sessions, publisher).run(worker.stop)

    # GATEWAY_OUTBOX_RELAY_METRICS_PORT (+ GATEWAY_METRICS_HOST): what its container health check and a scraper reach.
    run_consumer_worker(
        settings,
        relay,
        database_url=settings.admin_database_url,
        metrics_port=settings.outbox_relay_metrics_port,
        metrics_host=settings.metrics_host,
    )


if __name__ == "__main__":
    main()
