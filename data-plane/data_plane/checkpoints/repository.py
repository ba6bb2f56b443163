"""DDL that puts LangGraph's checkpoint tables under tenant RLS (run by the owner, after the saver's `setup()`).

Every statement is re-runnable: a column is added (and back-filled from `thread_id`) only where it is missing,
the policy is dropped and created again, privileges are revoked and granted again; run in one transaction, a
second run leaves the catalog as the first one did.
"""

from __future__ import annotations

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

__all__ = [
    "HARDENED_TABLES",
    "MIGRATIONS_TABLE",
    "POLICY",
    "create_schema",
    "harden",
    "lock_migration",
    "unhardened_tables",
    "unlock_migration",
]

HARDENED_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
MIGRATIONS_TABLE = "checkpoint_migrations"
POLICY = "tenant_isolation"

# A reset connection reads '' (not NULL) for the setting: nullif makes '' "no tenant", so the default yields NULL
# (rejected by NOT NULL) and the policy compares with NULL (no row visible, no row writable), where a bare
# current_setting would let an unbound session read and write rows of tenant '' (thread ids ':...').
_TENANT = "nullif(current_setting('app.tenant_id', true), '')"
# One key for the checkpoint step of every migrate job on this database (two jobs run it one after the other).
_LOCK_KEY = "orch_ckpt.migrate"


async def lock_migration(conn: AsyncConnection[DictRow]) -> None:
    await conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_LOCK_KEY,))


async def unlock_migration(conn: AsyncConnection[DictRow]) -> None:
    await conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (_LOCK_KEY,))


async def create_schema(conn: AsyncConnection[DictRow], schema: str) -> None:
    await conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    await conn.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(schema)))


async def _has_tenant_column(conn: AsyncConnection[DictRow], schema: str, table: str) -> bool:
    cur = await conn.execute(
        "select 1 from information_schema.columns where table_schema = %s and table_name = %s"
        " and column_name = 'tenant_id'",
        (schema, table),
    )
    return await cur.fetchone() is not None


async def harden(conn: AsyncConnection[DictRow], schema: str, runtime_role: str) -> None:
    """tenant_id + ENABLE/FORCE RLS + the policy on the three tables; app_runtime: USAGE, DML on those three only."""
    s, runtime = sql.Identifier(schema), sql.Identifier(runtime_role)
    tenant = sql.SQL(_TENANT)
    for name in HARDENED_TABLES:
        t = sql.Identifier(schema, name)
        if not await _has_tenant_column(conn, schema, name):
            # First run: RLS is not on yet, so the owner back-fills every row there may be.
            await conn.execute(sql.SQL("alter table {} add column tenant_id text").format(t))
            await conn.execute(
                sql.SQL("update {} set tenant_id = split_part(thread_id, ':', 1) where tenant_id is null").format(t)
            )
            await conn.execute(sql.SQL("alter table {} alter column tenant_id set not null").format(t))
        await conn.execute(sql.SQL("alter table {} alter column tenant_id set default {}").format(t, tenant))
        await conn.execute(sql.SQL("alter table {} enable row level security").format(t))
        await conn.execute(sql.SQL("alter table {} force row level security").format(t))
        await conn.execute(sql.SQL("drop policy if exists {} on {}").format(sql.Identifier(POLICY), t))
        await conn.execute(
            sql.SQL(
                "create policy {} on {} using (tenant_id = {tenant})"
                " with check (tenant_id = {tenant} and split_part(thread_id, ':', 1) = tenant_id)"
            ).format(sql.Identifier(POLICY), t, tenant=tenant)
        )
        await conn.execute(sql.SQL("revoke all on table {} from public, {}").format(t, runtime))
        await conn.execute(sql.SQL("grant select, insert, update, delete on table {} to {}").format(t, runtime))
    migrations = sql.Identifier(schema, MIGRATIONS_TABLE)
    await conn.execute(sql.SQL("revoke all on table {} from public, {}").format(migrations, runtime))
    await conn.execute(sql.SQL("revoke all on schema {} from public, {}").format(s, runtime))
    await conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, runtime))


async def unhardened_tables(conn: AsyncConnection[DictRow], schema: str) -> list[str]:
    """Tables of `schema` (the saver's bookkeeping table aside) without tenant_id or without forced RLS.

    Not empty only when a newer saver's setup() made a table this module does not know: migrate then fails.
    """
    cur = await conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p') and c.relname <> %s"
        " and not (c.relrowsecurity and c.relforcerowsecurity and exists ("
        "   select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and a.attnotnull))",
        (schema, MIGRATIONS_TABLE),
    )
    return sorted(str(row["relname"]) for row in await cur.fetchall())
