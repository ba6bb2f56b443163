"""LangGraph checkpoints under RLS: one pooled connection per run, its tenant bound once (issue 15, §1).

The saver is LangGraph's `AsyncPostgresSaver`, unchanged, on tables in the `orch_ckpt` schema that
`python -m data_plane migrate` created (the saver's own `setup()`, run by the owner) and then hardened: each of
`checkpoints`, `checkpoint_blobs` and `checkpoint_writes` has `tenant_id text NOT NULL` defaulting to the
session's `app.tenant_id`, FORCE RLS, and a policy that reads only the bound tenant's rows and writes only rows
whose `thread_id` starts with `<tenant>:`. `app_runtime` has DML on those three only.

A run's checkpoints live under `thread_id = "{tenant}:{run_id}"` (`thread_id_for`). `tenant_saver` checks one
connection out of the pool built by `checkpoint_pool`, binds the tenant with `set_config(..., false)` once (a
binding per statement cost 1.37x and halved throughput: a saver serialises its statements on one lock), takes the
run's lease (a session advisory lock keyed by the thread id) and builds a saver on that connection alone; leaving
the context unlocks and unbinds, and so does the pool's reset (in a background task: too late to rely on alone)
before the connection serves anyone else (a connection that `tenant_saver` or `prune_runs` cleared itself
skips that second clear). Hence: in-flight runs per worker <= the pool's size, and no
transaction-mode pooler in front of Postgres (it would hand the session to someone else).

`prune_runs` is the retention job's step for one tenant: the saver's `aprune` with that tenant bound (under FORCE
RLS no session prunes across tenants).
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from aiaas.checkpoints import repository

__all__ = [
    "CHECKPOINT_SCHEMA",
    "CheckpointPool",
    "RunLeased",
    "checkpoint_pool",
    "connection_kwargs",
    "libpq_dsn",
    "prune_runs",
    "tenant_saver",
    "thread_id_for",
]

CHECKPOINT_SCHEMA = "orch_ckpt"

log = logging.getLogger(__name__)

CheckpointPool = AsyncConnectionPool[AsyncConnection[DictRow]]


class RunLeased(RuntimeError):
    """Another connection holds this run's lease: the run is in progress elsewhere."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"run {thread_id!r} is leased by another worker")
        self.thread_id = thread_id


def thread_id_for(tenant_id: uuid.UUID | str, run_id: uuid.UUID | str) -> str:
    """`{tenant}:{run_id}`: the RLS policy accepts a write only when the part before the first ':' is the tenant."""
    tenant, run = str(tenant_id), str(run_id)
    if not tenant or ":" in tenant:
        raise ValueError(f"tenant id must be non-empty and hold no ':' ({tenant!r})")
    if not run:
        raise ValueError("run id must be non-empty")
    return f"{tenant}:{run}"


def libpq_dsn(url: str) -> str:
    """A libpq URI for psycopg from a SQLAlchemy URL (`postgresql+asyncpg://...`); asyncpg's `ssl=` -> `sslmode=`."""
    parsed = make_url(url).set(drivername="postgresql")
    query = dict(parsed.query)
    ssl = query.pop("ssl", None)
    if ssl is not None and "sslmode" not in query:
        query["sslmode"] = ssl
    return parsed.set(query=query).render_as_string(hide_password=False)


def connection_kwargs() -> dict[str, Any]:
    """What each checkpoint connection is opened with: the saver's own settings plus the schema on the path."""
    return {
        "autocommit": True,
        "prepare_threshold": 0,
        "row_factory": dict_row,
        "options": f"-c search_path={CHECKPOINT_SCHEMA}",
    }


# Connections `_release` cleared just before they went back to the pool: their reset has nothing left to clear
# (one round trip per run saved). Any other return (a plain `pool.connection()`, a release that failed) resets.
_RELEASED: weakref.WeakSet[AsyncConnection[DictRow]] = weakref.WeakSet()


async def _reset(conn: AsyncConnection[DictRow]) -> None:
    if conn in _RELEASED:
        _RELEASED.discard(conn)
        return
    await repository.clear_session(conn)


def checkpoint_pool(
    database_url: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 30.0
) -> CheckpointPool:
    """A closed pool of checkpoint connections (open it with `await pool.open()` or `async with pool`).

    `database_url` is the service's own (app_runtime) URL. Returning a connection unbinds its tenant and drops
    its lease; a connection whose reset fails is discarded by the pool.
    """
    return AsyncConnectionPool(
        libpq_dsn(database_url),
        connection_class=AsyncConnection[DictRow],
        kwargs=connection_kwargs(),
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        reset=_reset,
        open=False,
        name="orch-checkpoints",
    )


@asynccontextmanager
async def tenant_saver(
    pool: CheckpointPool, tenant_id: uuid.UUID | str, run_id: uuid.UUID | str, *, lease: bool = True
) -> AsyncIterator[tuple[AsyncPostgresSaver, str]]:
    """`(saver, thread_id)` on one pooled connection bound to `tenant_id` for the whole run.

    With `lease` (the default) the run's advisory lock is taken first; `RunLeased` if another session holds it.
    Pass the saver to `graph.compile(checkpointer=saver)` and `thread_id` as `configurable.thread_id`.

    The connection (`saver.conn`) is in pipeline mode inside the context (-6 % of a bench episode's worker CPU:
    no pipeline entered and left per put): a statement run on it directly reports its rows and its error at the
    next sync (a fetch, or leaving a nested `async with conn.pipeline():`).
    """
    thread_id = thread_id_for(tenant_id, run_id)
    async with pool.connection() as conn:
        _RELEASED.discard(conn)
        try:
            if lease:
                if not await repository.bind_and_lease(conn, str(tenant_id), thread_id):
                    raise RunLeased(thread_id)
            else:
                await repository.bind_tenant(conn, str(tenant_id))
            # The connection stays in pipeline mode for the run: each put syncs once (as the saver's own
            # `pipeline=True` does) without entering and leaving pipeline mode around every statement.
            async with conn.pipeline() as pipe:
                yield AsyncPostgresSaver(conn, pipe=pipe), thread_id
        finally:
            await _release(conn)


async def _release(conn: AsyncConnection[DictRow]) -> None:
    """Unlock and unbind now: the pool runs its reset in a background task, so a run resumed at once (or its
    retention) could otherwise find the lease still held. The reset stays as the backstop (a cancelled release,
    a failed one: a connection whose reset fails is closed, which drops the lock too)."""
    try:
        await repository.clear_session(conn)
        _RELEASED.add(conn)
    except psycopg.Error as exc:  # never mask the run's own error; the pool's reset tries again
        log.warning("checkpoint connection not released, left to the pool's reset", extra={"error": repr(exc)[:200]})


async def prune_runs(
    pool: CheckpointPool, tenant_id: uuid.UUID | str, run_ids: Sequence[uuid.UUID | str], *, strategy: str = "delete"
) -> None:
    """The saver's `aprune` over `tenant_id`'s runs, on one connection bound to that tenant.

    `strategy` is LangGraph's: "delete" drops the runs' checkpoints, "keep_latest" keeps each run's last state.
    Other tenants' runs named here are untouched (RLS hides them). The caller picks finished runs only.
    """
    threads = [thread_id_for(tenant_id, run) for run in run_ids]
    if not threads:
        return
    async with pool.connection() as conn:
        _RELEASED.discard(conn)
        try:
            await repository.bind_tenant(conn, str(tenant_id))
            await AsyncPostgresSaver(conn).aprune(threads, strategy=strategy)
        finally:
            await _release(conn)
