"""The checkpoint connection's own SQL: bind a run's tenant, take its lease, clear both when the pool takes it back.

The saver's statements are LangGraph's (`langgraph.checkpoint.postgres`); these are the few this platform adds.
Every function runs on the one autocommit psycopg connection its caller holds.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow

__all__ = ["bind_and_lease", "bind_tenant", "clear_session", "current_tenant", "try_lease"]

# Session scope (is_local = false): the connection is autocommit, so the binding must outlive each statement.
_BIND = "select set_config('app.tenant_id', %s, false)"
# What the pool's reset runs: no tenant, no lease survives a return to the pool.
_CLEAR = "select pg_advisory_unlock_all(), set_config('app.tenant_id', '', false)"
_LEASE = "select pg_try_advisory_lock(hashtextextended(%s, 0)) as leased"
# A run's checkout in one round trip: its tenant bound and its lease tried (neither depends on the other).
_BIND_AND_LEASE = (
    "select set_config('app.tenant_id', %s, false) as tenant, pg_try_advisory_lock(hashtextextended(%s, 0)) as leased"
)
_CURRENT = "select current_setting('app.tenant_id', true) as tenant"


async def bind_tenant(conn: AsyncConnection[DictRow], tenant_id: str) -> None:
    await conn.execute(_BIND, (tenant_id,))


async def bind_and_lease(conn: AsyncConnection[DictRow], tenant_id: str, thread_id: str) -> bool:
    """`bind_tenant` then `try_lease`, in one statement: True if this connection now holds the lease."""
    row = await (await conn.execute(_BIND_AND_LEASE, (tenant_id, thread_id))).fetchone()
    return bool(row and row["leased"])


async def clear_session(conn: AsyncConnection[DictRow]) -> None:
    await conn.execute(_CLEAR)


async def try_lease(conn: AsyncConnection[DictRow], thread_id: str) -> bool:
    """A session advisory lock keyed by the thread id: True if this connection now holds it."""
    row = await (await conn.execute(_LEASE, (thread_id,))).fetchone()
    return bool(row and row["leased"])


async def current_tenant(conn: AsyncConnection[DictRow]) -> str | None:
    """The tenant this connection is bound to, None when unbound (after a reset the setting reads '')."""
    row = await (await conn.execute(_CURRENT)).fetchone()
    return (row["tenant"] or None) if row else None
