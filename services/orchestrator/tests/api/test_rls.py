"""Tenant isolation of runs (issue 15, acceptance 7): through the API, tenant A gets 404 on B's run, its history,
events, resume and cancel, and never sees it listed; as app_runtime with A bound, B's `orch_runs`, `orch_steps`
and `tool_calls` rows are invisible and unwritable; with no tenant bound nothing is visible; `orch_steps` is
append-only for app_runtime (no update, no delete, even of its own tenant's rows)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, tenant_session
from aiaas_testing import TenantWithKey

from .factories import RUNS, create, error, insert_step, insert_tool_call, order_body

MakeOrchTenant = Callable[[], Awaitable[TenantWithKey]]
TABLES = ("orch_runs", "orch_steps", "tool_calls")


@pytest.fixture
async def client(orch_api: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=orch_api.url, timeout=30) as http:
        yield http


async def _run_with_record(
    client: httpx2.AsyncClient, tenant: TenantWithKey, admin_sessions: async_sessionmaker[AsyncSession]
) -> str:
    """A run of `tenant` with one step and one ledger row."""
    run_id: str = (await create(client, tenant.auth, order_body()))["run_id"]
    async with admin_session(admin_sessions) as session:
        await insert_step(session, tenant.id, run_id, "lookup_order#0", kind="tool")
        await insert_tool_call(session, tenant.id, run_id, seq=0, tool="orders.get")
    return run_id


async def _count(session: AsyncSession, table: str, column: str, value: Any) -> int:
    statement = text(f"select count(*) from {table} where {column} = :v")
    return int((await session.execute(statement, {"v": value})).scalar_one())


async def _count_of_run(session: AsyncSession, table: str, run_id: uuid.UUID) -> int:
    return await _count(session, table, "id" if table == "orch_runs" else "run_id", run_id)


async def test_another_tenants_run_is_404_through_the_api(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    a, b = await make_orch_tenant(), await make_orch_tenant()
    theirs = await _run_with_record(client, b, admin_sessions)
    ours = (await create(client, a.auth, order_body()))["run_id"]
    for path in (f"{RUNS}/{theirs}", f"{RUNS}/{theirs}/history", f"{RUNS}/{theirs}/events"):
        error(await client.get(path, headers=a.auth), 404, "run_not_found")
    error(await client.post(f"{RUNS}/{theirs}/resume", json={"value": True}, headers=a.auth), 404, "run_not_found")
    error(await client.post(f"{RUNS}/{theirs}/cancel", headers=a.auth), 404, "run_not_found")
    listed = (await client.get(RUNS, headers=a.auth)).json()["data"]
    assert [run["run_id"] for run in listed] == [ours]
    # A's paging cursor naming B's run finds nothing to page after.
    assert (await client.get(RUNS, params={"after": theirs}, headers=a.auth)).json()["data"] == []
    # B still has it all.
    history = (await client.get(f"{RUNS}/{theirs}/history", headers=b.auth)).json()
    assert (len(history["steps"]), len(history["tool_calls"])) == (1, 1)
    run = (await client.get(f"{RUNS}/{theirs}", headers=b.auth)).json()
    assert run["status"] == "queued" and run["cancel_requested"] is False


async def test_app_runtime_bound_to_a_cannot_see_or_write_bs_rows(
    client: httpx2.AsyncClient,
    make_orch_tenant: MakeOrchTenant,
    admin_sessions: async_sessionmaker[AsyncSession],
    runtime_sessions: async_sessionmaker[AsyncSession],
) -> None:
    a, b = await make_orch_tenant(), await make_orch_tenant()
    theirs = uuid.UUID(await _run_with_record(client, b, admin_sessions))
    ours = uuid.UUID(await _run_with_record(client, a, admin_sessions))

    async with tenant_session(runtime_sessions, a.id) as session:
        assert [await _count_of_run(session, table, theirs) for table in TABLES] == [0, 0, 0]
        assert [await _count_of_run(session, table, ours) for table in TABLES] == [1, 1, 1]
        for table in ("orch_runs", "tool_calls"):
            column = "id" if table == "orch_runs" else "run_id"
            updated = await session.execute(
                text(f"update {table} set status = 'failed' where {column} = :id"), {"id": theirs}
            )
            assert updated.rowcount == 0  # type: ignore[attr-defined]
            deleted = await session.execute(text(f"delete from {table} where {column} = :id"), {"id": theirs})
            assert deleted.rowcount == 0  # type: ignore[attr-defined]

    # Writing a row for B while bound to A: refused by the policy's check.
    inserts = {
        "orch_runs": "insert into orch_runs (id, tenant_id, idempotency_key, agent, agent_version, model_alias, seed,"
        " input, input_sha256, status, created_at, updated_at) values (gen_random_uuid(), :b, 'k', 'faq', 1, 'm', 1,"
        " '{}', repeat('0', 64), 'queued', now(), now())",
        "orch_steps": "insert into orch_steps (tenant_id, run_id, step_key, node, kind, request, request_sha256,"
        " status, created_at) values (:b, :run, 'x#9', 'x', 'llm', '{}', repeat('0', 64), 'ok', now())",
        "tool_calls": "insert into tool_calls (id, tenant_id, run_id, node, seq, tool, args, idem_key, side_effect,"
        " status, requested_at) values (gen_random_uuid(), :b, :run, 'x', 9, 't', '{}', 'k9', false, 'requested',"
        " now())",
    }
    assert set(inserts) == set(TABLES)
    for statement in inserts.values():
        with pytest.raises(DBAPIError, match="row-level security"):
            async with tenant_session(runtime_sessions, a.id) as session:
                await session.execute(text(statement), {"b": b.id, "run": theirs})

    # No tenant bound: nothing at all.
    async with runtime_sessions() as session, session.begin():
        for table in TABLES:
            assert int((await session.execute(text(f"select count(*) from {table}"))).scalar_one()) == 0

    # B's rows are untouched.
    async with tenant_session(runtime_sessions, b.id) as session:
        status = (await session.execute(text("select status from orch_runs where id = :id"), {"id": theirs})).scalar()
        assert status == "queued"
        assert await _count(session, "tool_calls", "run_id", theirs) == 1


async def test_orch_steps_are_append_only_for_app_runtime(
    client: httpx2.AsyncClient,
    make_orch_tenant: MakeOrchTenant,
    admin_sessions: async_sessionmaker[AsyncSession],
    runtime_sessions: async_sessionmaker[AsyncSession],
) -> None:
    a = await make_orch_tenant()
    ours = uuid.UUID(await _run_with_record(client, a, admin_sessions))
    for statement in (
        "update orch_steps set status = 'error' where run_id = :id",
        "delete from orch_steps where run_id = :id",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with tenant_session(runtime_sessions, a.id) as session:
                await session.execute(text(statement), {"id": ours})
    async with tenant_session(runtime_sessions, a.id) as session:
        await session.execute(
            text(
                "insert into orch_steps (tenant_id, run_id, step_key, node, kind, request, request_sha256, status,"
                " created_at) values (:a, :run, 'answer#1', 'answer', 'llm', '{}', repeat('0', 64), 'ok', now())"
            ),
            {"a": a.id, "run": ours},
        )
        assert await _count(session, "orch_steps", "run_id", ours) == 2
