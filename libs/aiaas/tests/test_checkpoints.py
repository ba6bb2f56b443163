"""aiaas.checkpoints: a real two-node LangGraph graph checkpointed by `AsyncPostgresSaver` as app_runtime under RLS.

Needs the shared database migrated by `python -m data_plane migrate` (make test does it): the `orch_ckpt` tables,
their tenant policy and app_runtime's grants come from that step. Tenants are random ids: the checkpoint tables
reference no tenant row, the policy compares the thread's tenant with the bound one.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from aiaas.checkpoints import (
    CheckpointPool,
    RunLeased,
    checkpoint_pool,
    libpq_dsn,
    prune_runs,
    tenant_saver,
    thread_id_for,
)

TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
REJECTED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.NotNullViolation)


class State(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


async def _first(state: State) -> dict[str, Any]:
    return {"n": state["n"] + 1, "log": ["first"]}


async def _second(state: State) -> dict[str, Any]:
    return {"n": state["n"] * 10, "log": ["second"]}


def _graph() -> StateGraph[State]:
    graph = StateGraph(State)
    graph.add_node("first", _first)
    graph.add_node("second", _second)
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    return graph


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


async def _counts(conn: AsyncConnection[DictRow], thread_id: str) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        row = await (
            await conn.execute(f"select count(*) as n from {table} where thread_id = %s", (thread_id,))
        ).fetchone()
        assert row is not None
        counts[table] = int(row["n"])
    return counts


async def _put(saver: AsyncPostgresSaver, thread_id: str) -> None:
    await saver.aput(_config(thread_id), empty_checkpoint(), {"source": "input", "step": -1}, {})


@pytest.fixture
async def pool(infra_urls) -> AsyncIterator[CheckpointPool]:
    async with checkpoint_pool(infra_urls.database_url, min_size=1, max_size=2) as opened:
        yield opened


async def _run_a(pool: CheckpointPool) -> tuple[str, str]:
    """Tenant A runs the graph to its end; (tenant A, A's thread id)."""
    tenant = str(uuid.uuid4())
    async with tenant_saver(pool, tenant, uuid.uuid4()) as (saver, thread_id):
        result = await _graph().compile(checkpointer=saver).ainvoke({"n": 1, "log": []}, _config(thread_id))
    assert result == {"n": 20, "log": ["first", "second"]}
    return tenant, thread_id


def test_thread_id_is_tenant_colon_run() -> None:
    run = uuid.uuid4()
    assert thread_id_for("t1", run) == f"t1:{run}"
    for tenant in ("", "a:b"):
        with pytest.raises(ValueError):
            thread_id_for(tenant, run)
    with pytest.raises(ValueError):
        thread_id_for("t1", "")


def test_libpq_dsn_drops_the_sqlalchemy_driver() -> None:
    assert libpq_dsn("postgresql+asyncpg://u:p%40w@h:5/db") == "postgresql://u:p%40w@h:5/db"
    assert libpq_dsn("postgresql+asyncpg://u:p@h/db?ssl=require") == "postgresql://u:p@h/db?sslmode=require"


async def test_the_runs_tenant_reads_its_state_back_and_rows_carry_the_tenant(pool: CheckpointPool) -> None:
    tenant, thread_id = await _run_a(pool)
    run_id = thread_id.split(":", 1)[1]
    async with tenant_saver(pool, tenant, run_id) as (saver, same_thread):
        assert same_thread == thread_id
        graph = _graph().compile(checkpointer=saver)
        state = await graph.aget_state(_config(thread_id))
        assert state.values == {"n": 20, "log": ["first", "second"]}
        assert state.next == ()
        history = [c async for c in saver.alist(_config(thread_id))]
        assert len(history) >= 3  # input, first, second
        conn = saver.conn
        assert isinstance(conn, AsyncConnection)
        counts = await _counts(conn, thread_id)
        assert counts["checkpoints"] == len(history) and counts["checkpoint_blobs"] > 0
        owners = await (await conn.execute("select distinct tenant_id from checkpoints")).fetchall()
        assert [row["tenant_id"] for row in owners] == [tenant]


async def test_another_tenant_sees_empty_state_and_deletes_nothing(pool: CheckpointPool) -> None:
    tenant_a, thread_a = await _run_a(pool)
    async with tenant_saver(pool, tenant_a, thread_a.split(":", 1)[1]) as (saver, _):
        assert isinstance(saver.conn, AsyncConnection)
        before = await _counts(saver.conn, thread_a)
    assert before["checkpoints"] >= 3

    async with tenant_saver(pool, uuid.uuid4(), uuid.uuid4()) as (saver_b, _):
        graph_b = _graph().compile(checkpointer=saver_b)
        state = await graph_b.aget_state(_config(thread_a))
        assert state.values == {} and state.next == ()
        assert await saver_b.aget_tuple(_config(thread_a)) is None
        assert [c async for c in saver_b.alist(_config(thread_a))] == []
        await saver_b.adelete_thread(thread_a)
        conn = saver_b.conn
        assert isinstance(conn, AsyncConnection)
        for table in TABLES:
            async with conn.pipeline():  # tenant_saver's connection is in pipeline mode: sync to read rowcount
                cur = await conn.execute(f"delete from {table} where thread_id = %s", (thread_a,))
            assert cur.rowcount == 0, table
            async with conn.pipeline():
                cur = await conn.execute(f"update {table} set thread_id = thread_id where thread_id = %s", (thread_a,))
            assert cur.rowcount == 0, table

    async with tenant_saver(pool, tenant_a, thread_a.split(":", 1)[1]) as (saver, _):
        assert isinstance(saver.conn, AsyncConnection)
        assert await _counts(saver.conn, thread_a) == before
        state = await _graph().compile(checkpointer=saver).aget_state(_config(thread_a))
        assert state.values == {"n": 20, "log": ["first", "second"]}


def _refused_by_rls(exc: BaseException | None) -> bool:
    """Is an InsufficientPrivilege (an RLS WITH CHECK refusal) this error or one it was raised from or during?"""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


async def test_a_write_under_another_tenants_thread_id_is_rejected(pool: CheckpointPool) -> None:
    tenant_a, thread_a = await _run_a(pool)
    foreign = thread_id_for(tenant_a, uuid.uuid4())  # a thread of A no one has written yet
    async with tenant_saver(pool, uuid.uuid4(), uuid.uuid4()) as (saver_b, own_thread):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await _put(saver_b, foreign)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await _put(saver_b, thread_a)  # over A's existing rows: the upsert may not see, let alone update, them
        # A graph's puts are chained on the pipelined connection: the caller gets the RLS refusal itself, or the
        # PipelineAborted of the put queued behind it (raised while handling the refusal); nothing lands either way.
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.PipelineAborted)) as refused:
            await _graph().compile(checkpointer=saver_b).ainvoke({"n": 1, "log": []}, _config(foreign))
        assert _refused_by_rls(refused.value), repr(refused.value)
        conn = saver_b.conn
        assert isinstance(conn, AsyncConnection)
        # Naming tenant_id does not help: the row must be the bound tenant's and its thread must start with it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with conn.pipeline():  # tenant_saver's connection is in pipeline mode: the error comes at sync
                await conn.execute(
                    "insert into checkpoints (thread_id, checkpoint_ns, checkpoint_id, checkpoint, tenant_id)"
                    " values (%s, '', 'x', '{}', %s)",
                    (foreign, tenant_a),
                )
        # The connection is still usable, and B's own thread is writable.
        await _put(saver_b, own_thread)
        assert await saver_b.aget_tuple(_config(own_thread)) is not None
    async with tenant_saver(pool, tenant_a, foreign.split(":", 1)[1]) as (saver_a, _):
        assert await saver_a.aget_tuple(_config(foreign)) is None


async def test_without_a_tenant_nothing_is_visible_and_no_write_lands(infra_urls) -> None:
    """An unbound session and a session the pool's reset unbound ('' rather than NULL) both see and write nothing."""
    async with checkpoint_pool(infra_urls.database_url, min_size=1, max_size=1) as one:
        tenant_a, thread_a = await _run_a(one)
        async with one.connection() as conn:  # the same connection, back from the pool's reset
            row = await (await conn.execute("select current_setting('app.tenant_id', true) as t")).fetchone()
            assert row is not None and row["t"] == ""
            await _assert_sees_and_writes_nothing(conn, tenant_a, thread_a)
    conn = await AsyncConnection.connect(libpq_dsn(infra_urls.database_url), **_kwargs())
    async with conn:  # a fresh session that never bound a tenant: the setting does not exist (NULL)
        await _assert_sees_and_writes_nothing(conn, tenant_a, thread_a)


def _kwargs() -> dict[str, Any]:
    from aiaas.checkpoints import connection_kwargs

    return connection_kwargs()


async def _assert_sees_and_writes_nothing(conn: AsyncConnection[DictRow], tenant_a: str, thread_a: str) -> None:
    saver = AsyncPostgresSaver(conn)
    assert await saver.aget_tuple(_config(thread_a)) is None
    for table in TABLES:
        row = await (await conn.execute(f"select count(*) as n from {table}")).fetchone()
        assert row is not None and row["n"] == 0, table
    for thread_id in (f":{uuid.uuid4()}", str(uuid.uuid4()), thread_id_for(tenant_a, uuid.uuid4())):
        with pytest.raises(REJECTED):
            await _put(saver, thread_id)


async def test_a_connection_bound_outside_tenant_saver_is_reset_by_the_pool(infra_urls) -> None:
    """tenant_saver clears its connection itself (the reset skips it); any other use is still reset."""
    tenant = str(uuid.uuid4())
    async with checkpoint_pool(infra_urls.database_url, min_size=1, max_size=1) as one:
        async with tenant_saver(one, tenant, uuid.uuid4()):
            pass
        async with one.connection() as conn:
            await conn.execute("select set_config('app.tenant_id', %s, false)", (tenant,))
            await conn.execute("select pg_advisory_lock(42)")
        async with one.connection() as conn:
            row = await (
                await conn.execute(
                    "select current_setting('app.tenant_id', true) as t, (select count(*) from pg_locks"
                    " where locktype = 'advisory' and pid = pg_backend_pid()) as n"
                )
            ).fetchone()
            assert row is not None and row["t"] == "" and row["n"] == 0


async def test_the_lease_admits_one_holder_and_leaving_releases_it(infra_urls) -> None:
    tenant, run = str(uuid.uuid4()), uuid.uuid4()
    thread_id = thread_id_for(tenant, run)
    other = await AsyncConnection.connect(libpq_dsn(infra_urls.database_url), **_kwargs())
    async with other, checkpoint_pool(infra_urls.database_url, min_size=2, max_size=2) as two:

        async def free_elsewhere() -> bool:
            row = await (
                await other.execute("select pg_try_advisory_lock(hashtextextended(%s, 0)) as ok", (thread_id,))
            ).fetchone()
            assert row is not None
            if row["ok"]:
                await other.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (thread_id,))
            return bool(row["ok"])

        for _ in range(20):  # the pool resets in a background task: leaving the context must release at once
            async with tenant_saver(two, tenant, run):
                assert not await free_elsewhere()
                with pytest.raises(RunLeased):
                    async with tenant_saver(two, tenant, run):
                        pass
            assert await free_elsewhere()
        with pytest.raises(ZeroDivisionError):  # a run that fails releases too
            async with tenant_saver(two, tenant, run):
                _ = 1 / 0
        assert await free_elsewhere()
        async with two.connection() as a, two.connection() as b:
            for conn in (a, b):
                row = await (
                    await conn.execute(
                        "select count(*) as n, current_setting('app.tenant_id', true) as t from pg_locks"
                        " where locktype = 'advisory' and pid = pg_backend_pid()"
                    )
                ).fetchone()
                assert row is not None and row["n"] == 0 and row["t"] == ""


async def test_app_runtime_has_dml_on_the_three_tables_only(pool: CheckpointPool) -> None:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "select current_user as who, r.rolbypassrls, r.rolsuper from pg_roles r where r.rolname = current_user"
            )
        ).fetchone()
        assert row is not None and row["who"] == "app_runtime" and not row["rolbypassrls"] and not row["rolsuper"]
        statements = (
            "create table orch_ckpt.intruder (i int)",
            "create view orch_ckpt.intruder as select 1 as i",
            "select * from orch_ckpt.checkpoint_migrations",
            "insert into orch_ckpt.checkpoint_migrations (v) values (999)",
            "delete from orch_ckpt.checkpoint_migrations",
            "truncate orch_ckpt.checkpoints",
            "alter table orch_ckpt.checkpoints disable row level security",
            "drop policy tenant_isolation on orch_ckpt.checkpoints",
        )
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(statement)
        for table in TABLES:
            row = await (
                await conn.execute(
                    "select has_table_privilege(%s, 'select,insert,update,delete') as dml,"
                    " has_table_privilege(%s, 'truncate') or has_table_privilege(%s, 'references')"
                    " or has_table_privilege(%s, 'trigger') as other",
                    (f"orch_ckpt.{table}",) * 4,
                )
            ).fetchone()
            assert row is not None and row["dml"] and not row["other"], table
        row = await (
            await conn.execute(
                "select has_schema_privilege('orch_ckpt', 'usage') as usage,"
                " has_schema_privilege('orch_ckpt', 'create') as create"
            )
        ).fetchone()
        assert row is not None and row["usage"] and not row["create"]


async def test_prune_runs_works_under_rls_for_the_bound_tenant_only(pool: CheckpointPool) -> None:
    tenant_a, thread_a = await _run_a(pool)
    run_a = thread_a.split(":", 1)[1]

    async def counts() -> dict[str, int]:
        async with tenant_saver(pool, tenant_a, run_a) as (saver, _):
            assert isinstance(saver.conn, AsyncConnection)
            return await _counts(saver.conn, thread_a)

    before = await counts()
    assert before["checkpoints"] >= 3
    # B names A's run (as B's thread id it is a different thread; A's thread itself B cannot see): nothing goes.
    await prune_runs(pool, uuid.uuid4(), [run_a], strategy="delete")
    assert await counts() == before

    await prune_runs(pool, tenant_a, [run_a], strategy="keep_latest")
    assert (await counts())["checkpoints"] == 1
    async with tenant_saver(pool, tenant_a, run_a) as (saver, _):
        state = await _graph().compile(checkpointer=saver).aget_state(_config(thread_a))
        assert state.values == {"n": 20, "log": ["first", "second"]}

    await prune_runs(pool, tenant_a, [run_a], strategy="delete")
    assert await counts() == dict.fromkeys(TABLES, 0)
