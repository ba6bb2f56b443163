"""SQL that reads episodes: a run's row, its steps in write order and its ledger rows, in the caller's transaction.

Under a tenant session (app_runtime, RLS) a run of another tenant does not exist; under the platform_admin role
(`admin_session`) every tenant's runs are visible (the corpus recorder only).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["EXPORTABLE", "list_runs", "read_calls", "read_run", "read_steps"]

# Runs with an episode worth replaying: finished, or waiting at an interrupt.
EXPORTABLE = ("interrupted", "succeeded", "failed", "compensated", "cancelled", "expired")

_RUN_COLS = (
    "id, tenant_id, idempotency_key, agent, agent_version, versions, model_alias, seed, input, input_sha256, flags, "
    "status, output, error, interrupt, resume_value, cancel_requested, lock_key, deliveries, created_at, updated_at, "
    "started_at, finished_at"
)
_READ_RUN = text(f"select {_RUN_COLS} from orch_runs where id = :run_id")  # noqa: S608  # nosec B608
_LIST_RUNS = text(
    "select id from orch_runs where status = any(:statuses) "
    "and (cast(:tenant_id as uuid) is null or tenant_id = cast(:tenant_id as uuid)) order by created_at, id"
)
_READ_STEPS = text(
    "select step_key, node, kind, request, request_sha256, response, status, error_class, attempt, latency_ms, "
    "tokens_in, tokens_out, cost_usd, created_at from orch_steps where run_id = :run_id order by id"
)
_READ_CALLS = text(
    "select id, node, seq, tool, args, idem_key, side_effect, status, attempts, result, error_class, error, "
    "will_compensate, compensation, compensation_of, requested_at, completed_at "
    "from tool_calls where run_id = :run_id order by requested_at, id"
)


async def read_run(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(_READ_RUN, {"run_id": run_id})).mappings().first()
    return None if row is None else dict(row)


async def list_runs(session: AsyncSession, tenant_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """The exportable runs the session sees (oldest first), of one tenant when `tenant_id` is given."""
    params = {"statuses": list(EXPORTABLE), "tenant_id": None if tenant_id is None else str(tenant_id)}
    return [row[0] for row in await session.execute(_LIST_RUNS, params)]


async def read_steps(session: AsyncSession, run_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(_READ_STEPS, {"run_id": run_id})).mappings()]


async def read_calls(session: AsyncSession, run_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(_READ_CALLS, {"run_id": run_id})).mappings()]
