"""`usage.recorded` events -> `requests` rows: the usage writer's handler."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import Received
from aiaas.events.schemas import UsageRecorded
from gateway.usage.repository import insert_requests

__all__ = ["write_usage"]


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
