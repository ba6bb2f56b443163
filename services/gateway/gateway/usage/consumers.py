"""`usage.recorded` events -> `requests` rows: the usage writer (`python -m gateway.usage_writer`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import CONSUMERS, ConsumerRunner, Received
from aiaas.events.schemas import UsageRecorded
from aiaas.worker import WorkerContext
from gateway.usage.repository import insert_requests

__all__ = ["USAGE_WRITER", "write_usage", "write_usage_until_stopped"]

USAGE_WRITER = "usage-writer"


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
            await insert_requests(session, rows)


async def write_usage_until_stopped(worker: WorkerContext) -> None:
    """Consume the usage writer's durable consumer in batches until the worker is told to stop."""

    async def handle(batch: Sequence[Received]) -> None:
        await write_usage(worker.sessions, batch)

    await ConsumerRunner(worker.js, CONSUMERS[USAGE_WRITER], handle, batch_size=500).run(worker.stop)
