"""Retention of episode records (`runs.repository.prune_episodes`): a tenant's finished runs older than the cutoff
go with their steps and ledger rows; a newer or unfinished run stays; another tenant's runs are out of reach (RLS)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas_testing import TenantWithKey
from orchestrator.agents.manifest import BUILTIN_MANIFESTS
from orchestrator.ledger import EpisodeRecord, RunRef
from orchestrator.ledger import repository as ledger
from orchestrator.runs import repository as runs

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def _run(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, *, finished: datetime | None
) -> uuid.UUID:
    """A run with one step and one ledger row, finished at `finished` (None: still running)."""
    manifest = BUILTIN_MANIFESTS["lead"]
    run_input = {"email": "r@example.com", "name": "R", "message": "hi"}
    run = runs.NewRun(
        id=uuid.uuid4(), tenant_id=tenant_id, idempotency_key=f"ret-{uuid.uuid4()}", agent="lead",
        agent_version=manifest.version, versions=manifest.versions(), model_alias=manifest.model_alias, seed=3,
        input=run_input, input_sha256=hashlib.sha256(orjson.dumps(run_input)).hexdigest(), flags={}, lock_key=None,
        created_at=T0,
    )  # fmt: skip
    async with tenant_session(sessions, tenant_id) as session:
        await runs.insert(session, run)
        await ledger.insert_call(
            session, tenant_id=tenant_id, call_id=uuid.uuid4(), run_id=run.id, node="dedupe", seq=0,
            tool="crm.find_leads", args={"email": "r@example.com"}, idem_key=uuid.uuid4().hex, side_effect=False,
            compensation_of=None, now=T0,
        )  # fmt: skip
        status = "running" if finished is None else "succeeded"
        await session.execute(
            text("update orch_runs set status = :s, finished_at = :f where id = :id"),
            {"s": status, "f": finished, "id": run.id},
        )
    record = EpisodeRecord(sessions, clock=lambda: T0)
    await record.clock_reading(
        RunRef(tenant_id, run.id, "lead"), node="qualify", step_key="qualify:clock#0", read=lambda: T0
    )
    return run.id


async def _left(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, run_id: uuid.UUID) -> tuple:
    async with tenant_session(sessions, tenant_id) as session:
        row = await session.execute(
            text(
                "select (select count(*) from orch_runs where id = :r),"
                " (select count(*) from orch_steps where run_id = :r),"
                " (select count(*) from tool_calls where run_id = :r)"
            ),
            {"r": run_id},
        )
        return tuple(row.one())


async def test_prune_episodes_deletes_old_finished_runs_with_their_record_only(
    runtime_sessions: async_sessionmaker[AsyncSession], make_orch_tenant: Callable[[], Awaitable[TenantWithKey]]
) -> None:
    a, b = await make_orch_tenant(), await make_orch_tenant()
    old = await _run(runtime_sessions, a.id, finished=T0)
    recent = await _run(runtime_sessions, a.id, finished=T0 + timedelta(days=40))
    running = await _run(runtime_sessions, a.id, finished=None)
    cutoff = T0 + timedelta(days=30)
    assert await _left(runtime_sessions, a.id, old) == (1, 1, 1)

    async with tenant_session(runtime_sessions, b.id) as session:  # another tenant: nothing it can reach
        assert await runs.prune_episodes(session, [old, recent, running], cutoff=cutoff) == 0
    assert await _left(runtime_sessions, a.id, old) == (1, 1, 1)

    async with tenant_session(runtime_sessions, a.id) as session:
        assert await runs.prune_episodes(session, [old, recent, running], cutoff=cutoff) == 1

    assert await _left(runtime_sessions, a.id, old) == (0, 0, 0)
    assert await _left(runtime_sessions, a.id, recent) == (1, 1, 1)
    assert await _left(runtime_sessions, a.id, running) == (1, 1, 1)
