"""0033_kb_partition_lock_order: `kb_ensure_partition` locks tenants, kb_documents, kb_chunks in that order before
it creates a partition, so a tenant's first partition no longer deadlocks with another tenant's transaction that
wrote kb_documents and then reads kb_chunks; 0032's function (downgrade) does, and the upgrade brings the fix back.

Both sides run as app_runtime (SET ROLE from the superuser's sessions: policies and grants apply), each bound to
its own tenant, as two tenants' first uploads are.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg

from data_plane.migrate import downgrade, upgrade

NOW = datetime(2026, 12, 7, tzinfo=UTC)


async def _bound(dsn: str, tenant: uuid.UUID) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await conn.execute("set deadlock_timeout = '200ms'")  # as the superuser, before the role is taken
    await conn.execute("set role app_runtime")
    await conn.execute("select set_config('app.tenant_id', $1, false)", str(tenant))
    return conn


async def _race(dsn: str) -> str:
    """Tenant A writes kb_documents; B starts making its partition; A then reads kb_chunks. "ok" or the error."""
    admin = await asyncpg.connect(dsn)
    a, b = [
        await admin.fetchval("insert into tenants (name, slug) values ($1, $1) returning id", uuid.uuid4().hex)
        for _ in range(2)
    ]
    ingest, maker = await _bound(dsn, a), await _bound(dsn, b)
    try:
        transaction = ingest.transaction()
        await transaction.start()
        await ingest.execute(
            "insert into kb_documents (id, tenant_id, filename, media_type, version, sha256, size_bytes, content,"
            " status, created_at, updated_at)"
            " values ($1, $2, 'a.md', 'text/markdown', 1, $3, 1, 'a', 'queued', $4, $4)",
            uuid.uuid4(),
            a,
            hashlib.sha256(b"a").hexdigest(),
            NOW,
        )
        making = asyncio.create_task(maker.fetchval("select kb_ensure_partition($1)", b))
        blocked_pid = maker.get_server_pid()
        for _ in range(250):
            if await admin.fetchval(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = $1", blocked_pid
            ):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("kb_ensure_partition never waited for the open transaction")
        outcome = "ok"
        try:
            await ingest.fetch("select id from kb_chunks where content_sha256 = $1", "0" * 64)
            await transaction.commit()
        except asyncpg.DeadlockDetectedError as exc:
            outcome = f"ingest: {exc}"
            await transaction.rollback()
        try:
            assert await asyncio.wait_for(making, 30) == f"kb_chunks_{b.hex}"
        except asyncpg.DeadlockDetectedError as exc:
            outcome = f"partition: {exc}"
        return outcome
    finally:
        for conn in (ingest, maker, admin):
            await conn.close()


async def _function(dsn: str) -> tuple[str, bool, bool]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "select prosrc, prosecdef, has_function_privilege('app_runtime', p.oid, 'execute') as runtime"
            " from pg_proc p where proname = 'kb_ensure_partition'"
        )
        return str(row["prosrc"]), bool(row["prosecdef"]), bool(row["runtime"])
    finally:
        await conn.close()


def test_partition_maker_takes_the_ingest_lock_order_and_the_downgrade_restores_the_old_one(scratch) -> None:
    settings, dsn = scratch
    upgrade(settings)
    source, definer, runtime = asyncio.run(_function(dsn))
    assert definer and runtime
    order = [source.index(f"lock table public.{table}") for table in ("tenants", "kb_documents", "kb_chunks")]
    assert order == sorted(order)
    assert asyncio.run(_race(dsn)) == "ok"

    downgrade(settings, "0032_episode_clock_steps")
    source, definer, runtime = asyncio.run(_function(dsn))
    assert "lock table" not in source and definer and runtime
    assert "deadlock detected" in asyncio.run(_race(dsn))

    upgrade(settings)
    assert "lock table public.kb_documents in exclusive mode" in asyncio.run(_function(dsn))[0]
    assert asyncio.run(_race(dsn)) == "ok"
