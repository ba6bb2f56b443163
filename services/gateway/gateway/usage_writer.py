"""Usage writer: consumes `usage.recorded` events into `requests` rows (idempotent by event id).

Run as its own process: `python -m gateway.usage_writer`. Rows are written in
batches, one transaction per tenant under that tenant's RLS context; a
redelivered event hits `on conflict (event_id) do nothing`, so nothing counts twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import create_engine, session_factory, tenant_session
from aiaas.events import CONSUMERS, ConsumerRunner, Received, ensure_topology
from aiaas.events.schemas import UsageRecorded
from aiaas.observability.metrics import serve_metrics
from aiaas.worker import run_worker
from gateway.config import GatewaySettings

__all__ = ["write_usage", "main"]

log = logging.getLogger(__name__)

_INSERT = text(
    """
    insert into requests (event_id, request_id, tenant_id, api_key_id, model_alias, provider, deployment,
        upstream_model, stream, status, http_status, error_code, tokens_in, tokens_out, cost_usd, latency_ms,
        ttft_ms, attempts, started_at, completed_at)
    values (:event_id, :request_id, :tenant_id, :api_key_id, :model_alias, :provider, :deployment,
        :upstream_model, :stream, :status, :http_status, :error_code, :tokens_in, :tokens_out, :cost_usd,
        :latency_ms, :ttft_ms, :attempts, :started_at, :completed_at)
    on conflict (event_id) do nothing
    """
)


def _row(item: Received) -> dict[str, object]:
    usage = UsageRecorded.model_validate(item.event.data)
    return {"event_id": item.event.id, "tenant_id": item.event.tenant_id, **usage.model_dump()}


async def write_usage(sessions: async_sessionmaker[AsyncSession], batch: Sequence[Received]) -> None:
    """Insert the batch's usage rows; each tenant's rows in its own RLS-scoped transaction."""
    by_tenant: dict[uuid.UUID, list[dict[str, object]]] = defaultdict(list)
    for item in batch:
        by_tenant[item.event.tenant_id].append(_row(item))
    for tenant_id, rows in by_tenant.items():
        async with tenant_session(sessions, tenant_id) as session:
            await session.execute(_INSERT, rows)


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
