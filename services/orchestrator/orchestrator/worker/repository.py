"""The worker's SQL on `orch_runs`: a run's row for its delivery, its status, its outcome; the two cross-tenant scans.

Per-run statements run in a tenant transaction (app_runtime, RLS); `expired_interrupts` and `prunable_runs` run
on the platform_admin engine (the sweeper and the retention job cross tenants by design: aiaas.roles), and
`threads_with_checkpoints` on a checkpoint connection bound to one tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events import EventEnvelope

__all__ = [
    "RunRow",
    "ExpiredRun",
    "TERMINAL",
    "claim_run",
    "load_run",
    "set_status",
    "persist_outcome",
    "expired_interrupts",
    "prunable_runs",
    "threads_with_checkpoints",
]

TERMINAL = frozenset({"succeeded", "failed", "compensated", "cancelled", "expired"})

_COLUMNS = (
    "id, tenant_id, agent, agent_version, versions, model_alias, seed, input, flags, status, output, error,"
    " interrupt, interrupt_expires_at, resume_value, cancel_requested, deliveries"
)
_LOAD = text(f"select {_COLUMNS} from orch_runs where id = :id")  # noqa: S608  # nosec B608
# A delivery's start in one round trip: the row as it was (locked), and `running` + one more delivery when the
# request still applies. The condition is `orchestrator.worker.runs.stale_reason` in SQL (tests hold them equal).
_CLAIM = text(
    f"with run as (select {_COLUMNS} from orch_runs where id = :id for update),"  # noqa: S608  # nosec B608
    " marked as (update orch_runs r set status = 'running', deliveries = r.deliveries + 1, updated_at = :now,"
    " started_at = coalesce(r.started_at, :now) from run where r.id = run.id"
    " and run.status not in ('succeeded', 'failed', 'compensated', 'cancelled', 'expired')"
    " and not (:reason = 'start' and run.status = 'interrupted')"
    " and not (:reason = 'expire' and (run.interrupt_expires_at is null or run.interrupt_expires_at > :now))"
    " returning r.deliveries)"
    " select run.*, (select deliveries from marked) as marked_deliveries from run"
)
_SET_STATUS = text(
    "update orch_runs set status = :status, updated_at = :now"
    " where id = :id and status not in ('succeeded', 'failed', 'compensated', 'cancelled', 'expired')"
)
# The outcome of one delivery; a row another delivery already finished is left as it is (returns no row).
_PERSIST_UPDATE = (
    "update orch_runs set status = :status, output = cast(:output as jsonb), error = cast(:error as jsonb),"
    " interrupt = cast(:interrupt as jsonb), interrupt_expires_at = :expires_at,"
    " resume_value = case when :clear_resume then null else resume_value end,"
    " finished_at = :finished_at, updated_at = :now"
    " where id = :id and status not in ('succeeded', 'failed', 'compensated', 'cancelled', 'expired')"
    " returning id"
)
_PERSIST = text(_PERSIST_UPDATE)
# The same with its event's outbox row (aiaas.events.outbox's row, written only when the update took): one round
# trip instead of two. Counted from the update, so an event id stored already (nothing inserted) still says stored.
_PERSIST_WITH_EVENT = text(
    f"with outcome as ({_PERSIST_UPDATE}),"  # noqa: S608  # nosec B608 - constant SQL
    " outbox as (insert into event_outbox (tenant_id, event_id, subject, payload)"
    " select cast(:tenant_id as uuid), cast(:event_id as uuid), cast(:subject as text), cast(:payload as jsonb)"
    " from outcome"
    " on conflict (event_id) do nothing)"
    " select count(*) from outcome"
)
_EXPIRED = text(
    "select tenant_id, id, agent, deliveries from orch_runs"
    " where status = 'interrupted' and interrupt_expires_at <= :now order by interrupt_expires_at limit :limit"
)
_PRUNABLE = text(
    "select tenant_id, id from orch_runs where finished_at is not null and finished_at < :cutoff"
    " and status in ('succeeded', 'failed', 'compensated', 'cancelled', 'expired')"
    " order by tenant_id, finished_at, id"
)
_WITH_CHECKPOINTS = "select distinct thread_id from checkpoints where thread_id = any(%s)"


@dataclass(frozen=True)
class RunRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    agent: str
    agent_version: int
    versions: dict[str, Any]
    model_alias: str
    seed: int
    input: dict[str, Any]
    flags: dict[str, Any]
    status: str
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    interrupt: dict[str, Any] | None
    interrupt_expires_at: datetime | None
    resume_value: Any
    cancel_requested: bool
    deliveries: int


@dataclass(frozen=True)
class ExpiredRun:
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    agent: str
    deliveries: int


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def load_run(session: AsyncSession, run_id: uuid.UUID) -> RunRow | None:
    row = (await session.execute(_LOAD, {"id": run_id})).mappings().first()
    return RunRow(**row) if row is not None else None


async def claim_run(
    session: AsyncSession, run_id: uuid.UUID, reason: str, now: datetime
) -> tuple[RunRow, int | None] | None:
    """The run as it was and, when a `reason` request still applies to it at `now`, its delivery count after
    marking it `running` (None: left as it is); None when there is no such run (in this tenant)."""
    found = (await session.execute(_CLAIM, {"id": run_id, "reason": reason, "now": now})).mappings().first()
    if found is None:
        return None
    values = dict(found)
    marked = values.pop("marked_deliveries")
    return RunRow(**values), None if marked is None else int(marked)


async def set_status(session: AsyncSession, run_id: uuid.UUID, status: str, now: datetime) -> None:
    await session.execute(_SET_STATUS, {"id": run_id, "status": status, "now": now})


async def persist_outcome(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    status: str,
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
    interrupt: dict[str, Any] | None,
    expires_at: datetime | None,
    clear_resume: bool,
    now: datetime,
    event: EventEnvelope | None = None,
) -> bool:
    """Store a delivery's outcome (and `event` in the outbox with it); False when another delivery had already
    finished the run (then no event is stored either)."""
    params: dict[str, Any] = {
        "id": run_id,
        "status": status,
        "output": _json(output),
        "error": _json(error),
        "interrupt": _json(interrupt),
        "expires_at": expires_at,
        "clear_resume": clear_resume,
        "finished_at": now if status in TERMINAL else None,
        "now": now,
    }
    if event is None:
        return (await session.execute(_PERSIST, params)).first() is not None
    params |= {
        "tenant_id": event.tenant_id,
        "event_id": event.id,
        "subject": event.subject,
        "payload": event.to_json().decode(),
    }
    return bool((await session.execute(_PERSIST_WITH_EVENT, params)).scalar_one())


async def expired_interrupts(session: AsyncSession, now: datetime, limit: int) -> list[ExpiredRun]:
    """Interrupted runs of every tenant past their expiry (platform_admin)."""
    rows = (await session.execute(_EXPIRED, {"now": now, "limit": limit})).all()
    return [ExpiredRun(row.tenant_id, row.id, row.agent, row.deliveries) for row in rows]


async def prunable_runs(session: AsyncSession, cutoff: datetime) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Finished runs older than `cutoff`, by tenant (platform_admin)."""
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in (await session.execute(_PRUNABLE, {"cutoff": cutoff})).all():
        by_tenant.setdefault(row.tenant_id, []).append(row.id)
    return by_tenant


async def threads_with_checkpoints(conn: AsyncConnection[DictRow], thread_ids: Sequence[str]) -> set[str]:
    """Which of these threads still hold checkpoints (a tenant-bound checkpoint connection sees its own only)."""
    cursor = await conn.execute(_WITH_CHECKPOINTS, (list(thread_ids),))
    return {row["thread_id"] for row in await cursor.fetchall()}
