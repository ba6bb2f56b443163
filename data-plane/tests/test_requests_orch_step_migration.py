"""0027_requests_orch_step: usage rows gain the orchestrator run and step, a partial index per run, and go back.

Runs on a throwaway database (created and dropped here), so the shared one is never migrated backwards; only this
revision's branch is upgraded (other heads are their own tests').
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from data_plane.migrate import downgrade, upgrade

REVISION = "0027_requests_orch_step"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def _shape(dsn: str) -> tuple[dict[str, str], str | None]:
    """The new columns (name -> type) and the index's definition."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select column_name, data_type from information_schema.columns"
            " where table_name = 'requests' and column_name in ('orch_run_id', 'orch_step')"
        )
        index = await conn.fetchval("select indexdef from pg_indexes where indexname = 'requests_tenant_orch_run'")
        return {r["column_name"]: r["data_type"] for r in rows}, index
    finally:
        await conn.close()


async def _round_trip(dsn: str, run: uuid.UUID) -> list[tuple[uuid.UUID | None, str | None]]:
    """A row with `run` and a step and one without (as superuser: no RLS), read back."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant = await conn.fetchval("insert into tenants (name, slug) values ('t', 't') returning id")
        for request_id, run_id, step in (("r1", run, "answer#1"), ("r2", None, None)):
            await conn.execute(
                "insert into requests (event_id, request_id, tenant_id, model_alias, stream, status, started_at,"
                " completed_at, orch_run_id, orch_step) values ($1, $2, $3, 'm', false, 'success', $4, $4, $5, $6)",
                uuid.uuid4(),
                request_id,
                tenant,
                T0,
                run_id,
                step,
            )
        rows = await conn.fetch(
            "select orch_run_id, orch_step from requests where tenant_id = $1 order by request_id", tenant
        )
        return [(r["orch_run_id"], r["orch_step"]) for r in rows]
    finally:
        await conn.close()


def test_upgrade_adds_run_and_step_and_downgrade_removes_them(scratch) -> None:
    settings, dsn = scratch
    upgrade(settings, REVISION)
    columns, index = asyncio.run(_shape(dsn))
    assert columns == {"orch_run_id": "uuid", "orch_step": "text"}
    assert index is not None and "(tenant_id, orch_run_id)" in index and "WHERE (orch_run_id IS NOT NULL)" in index
    run = uuid.uuid4()
    assert asyncio.run(_round_trip(dsn, run)) == [(run, "answer#1"), (None, None)]

    downgrade(settings, f"{REVISION}-1")
    assert asyncio.run(_shape(dsn)) == ({}, None)
    upgrade(settings, REVISION)
    assert asyncio.run(_shape(dsn))[0] == {"orch_run_id": "uuid", "orch_step": "text"}
