"""`python -m data_plane migrate`'s checkpoint step on a fresh database: the saver's setup() as the owner, then
tenant_id, FORCE RLS, the policy and app_runtime's grants on `orch_ckpt`; a second migrate (with rows in the tables)
leaves the catalog and the rows as they were; a table the step does not know makes migrate fail.

The RLS behaviour with a real LangGraph graph is in libs/aiaas/tests/test_checkpoints.py; here app_runtime logs in
to the scratch database to write one checkpoint, so the re-run is proven over data.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from sqlalchemy.engine import make_url

from aiaas.checkpoints import checkpoint_pool, tenant_saver
from data_plane.config import DataPlaneSettings
from data_plane.migrate import migrate

TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
TENANT = "NULLIF(current_setting('app.tenant_id'::text, true), ''::text)"


async def _catalog(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "columns": [
                tuple(r)
                for r in await conn.fetch(
                    "select table_name, column_name, is_nullable, column_default from information_schema.columns"
                    " where table_schema = 'orch_ckpt' order by 1, 2"
                )
            ],
            "tables": [
                tuple(r)
                for r in await conn.fetch(
                    "select c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relacl::text[]"
                    " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname = 'orch_ckpt' and c.relkind = 'r' order by 1"
                )
            ],
            "policies": [
                tuple(r)
                for r in await conn.fetch(
                    "select tablename, policyname, permissive, roles::text[], cmd, qual, with_check from pg_policies"
                    " where schemaname = 'orch_ckpt' order by 1, 2"
                )
            ],
            "indexes": [
                tuple(r)
                for r in await conn.fetch(
                    "select indexname, indexdef from pg_indexes where schemaname = 'orch_ckpt' order by 1"
                )
            ],
            "schema_acl": await conn.fetchval("select nspacl::text from pg_namespace where nspname = 'orch_ckpt'"),
            "versions": await conn.fetchval("select array_agg(v order by v) from orch_ckpt.checkpoint_migrations"),
            "rows": await conn.fetchval(
                "select count(*) from orch_ckpt.checkpoints"  # the superuser bypasses RLS: every tenant's rows
            ),
        }
    finally:
        await conn.close()


async def _write_one(runtime_url: str) -> str:
    """As app_runtime (its own login) for a new tenant: one checkpoint; returns the tenant."""
    tenant = str(uuid.uuid4())
    async with checkpoint_pool(runtime_url, min_size=1, max_size=1) as pool:
        async with tenant_saver(pool, tenant, uuid.uuid4()) as (saver, thread_id):
            config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            await saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})
            assert await saver.aget_tuple(config) is not None
    return tenant


def test_migrate_sets_up_rls_checkpoints_and_a_rerun_changes_nothing(
    scratch: tuple[DataPlaneSettings, str],
) -> None:
    settings, superuser_dsn = scratch
    migrate(settings)
    first = asyncio.run(_catalog(superuser_dsn))

    assert first["versions"] == list(range(len(BasePostgresSaver.MIGRATIONS)))
    assert [t[0] for t in first["tables"]] == [
        "checkpoint_blobs",
        "checkpoint_migrations",
        "checkpoint_writes",
        "checkpoints",
    ]
    for name, rls, force, acl in first["tables"]:
        if name == "checkpoint_migrations":
            assert (rls, force) == (False, False)
            assert not any(entry.startswith("app_runtime=") for entry in acl), acl
        else:
            assert (rls, force) == (True, True), name
            assert sorted(acl) == ["aiaas_owner=arwdDxtm/aiaas_owner", "app_runtime=arwd/aiaas_owner"], name
    tenant_columns = {c[0]: c[2:] for c in first["columns"] if c[1] == "tenant_id"}
    assert tenant_columns == {table: ("NO", TENANT) for table in TABLES}
    assert [p[0] for p in first["policies"]] == sorted(TABLES)
    for _, name, permissive, roles, cmd, qual, with_check in first["policies"]:
        assert (name, permissive, roles, cmd) == ("tenant_isolation", "PERMISSIVE", ["public"], "ALL")
        assert qual == f"(tenant_id = {TENANT})"
        assert with_check == f"((tenant_id = {TENANT}) AND (split_part(thread_id, ':'::text, 1) = tenant_id))"
    assert "app_runtime=U/" in first["schema_acl"] and "app_runtime=UC" not in first["schema_acl"]
    assert {i[0] for i in first["indexes"]} >= {
        f"{t}_thread_id_idx" for t in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
    }

    runtime_url = (
        make_url(settings.database_url)
        .set(database=make_url(settings.migration_database_url).database)
        .render_as_string(hide_password=False)
    )
    asyncio.run(_write_one(runtime_url))
    with_rows = asyncio.run(_catalog(superuser_dsn))
    assert with_rows["rows"] == 1

    migrate(settings)  # the second run: Alembic at head, setup() at its last version, the hardening re-applied
    assert asyncio.run(_catalog(superuser_dsn)) == with_rows
    asyncio.run(_write_one(runtime_url))  # and the tables still take writes


def test_migrate_refuses_a_checkpoint_table_it_would_leave_without_rls(scratch: tuple[DataPlaneSettings, str]) -> None:
    settings, superuser_dsn = scratch
    migrate(settings)

    async def add_table() -> None:
        conn = await asyncpg.connect(superuser_dsn)
        try:
            await conn.execute("create table orch_ckpt.checkpoint_extra (thread_id text)")
        finally:
            await conn.close()

    asyncio.run(add_table())
    with pytest.raises(RuntimeError, match="checkpoint_extra"):
        migrate(settings)
