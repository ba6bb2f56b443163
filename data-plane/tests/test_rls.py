"""RLS: through app_runtime a tenant can neither read nor write another tenant's rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas.db import create_engine, session_factory, tenant_session
from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.outbox import write_outbox

TENANT_TABLES = {
    "tenants": "id",
    "api_keys": "tenant_id",
    "requests": "tenant_id",
    "event_outbox": "tenant_id",
}


async def _insert_request(session, tenant_id: uuid.UUID, key_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    rid = uuid.uuid4().hex
    await session.execute(
        text(
            "insert into requests (event_id, request_id, tenant_id, api_key_id, model_alias, stream, status,"
            " tokens_in, tokens_out, cost_usd, started_at, completed_at)"
            " values (:eid, :rid, :tid, :kid, 'm', false, 'success', 1, 2, 0.5, :now, :now)"
        ),
        {"eid": uuid.uuid4(), "rid": rid, "tid": tenant_id, "kid": key_id, "now": now},
    )


async def _seed_rows(sessions, tenant) -> None:
    async with tenant_session(sessions, tenant.id) as session:
        await _insert_request(session, tenant.id, tenant.key_id)
        event = EventEnvelope(
            id=event_id("test.seeded", str(uuid.uuid4())),
            type="test.seeded",
            tenant_id=tenant.id,
            data={"x": 1},
        )
        await write_outbox(session, event)


@pytest.fixture
async def two_tenants(make_tenant, runtime_sessions):
    a, b = await make_tenant(), await make_tenant()
    await _seed_rows(runtime_sessions, a)
    await _seed_rows(runtime_sessions, b)
    return a, b


async def test_app_runtime_is_not_owner_and_has_no_bypassrls(runtime_engine):
    async with runtime_engine.connect() as conn:
        role = (
            await conn.execute(text("select rolsuper, rolbypassrls from pg_roles where rolname = current_user"))
        ).one()
        owned = (
            await conn.execute(
                text(
                    "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = 'public' and pg_get_userbyid(c.relowner) = current_user"
                )
            )
        ).scalar_one()
    assert role.rolsuper is False
    assert role.rolbypassrls is False
    assert owned == 0


async def test_every_table_enables_and_forces_rls(admin_engine):
    async with admin_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c "
                    "join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = 'public' and c.relkind = 'r' and c.relname <> 'alembic_version'"
                )
            )
        ).all()
    assert {r.relname for r in rows} >= set(TENANT_TABLES)
    for row in rows:
        assert row.relrowsecurity and row.relforcerowsecurity, row.relname


async def test_tenant_reads_only_its_own_rows_in_every_table(two_tenants, runtime_sessions):
    a, b = two_tenants
    async with tenant_session(runtime_sessions, a.id) as session:
        for table, column in TENANT_TABLES.items():
            owners = (await session.execute(text(f"select distinct {column} from {table}"))).scalars().all()
            assert owners == [a.id], table
            hidden = (
                await session.execute(text(f"select count(*) from {table} where {column} = :b"), {"b": b.id})
            ).scalar_one()
            assert hidden == 0, table


async def test_tenant_cannot_update_or_delete_other_tenant_rows(two_tenants, runtime_sessions, admin_sessions):
    a, b = two_tenants
    async with tenant_session(runtime_sessions, a.id) as session:
        for table, column in TENANT_TABLES.items():
            updated = await session.execute(
                text(f"update {table} set {column} = {column} where {column} = :b"), {"b": b.id}
            )
            assert updated.rowcount == 0, table
            deleted = await session.execute(text(f"delete from {table} where {column} = :b"), {"b": b.id})
            assert deleted.rowcount == 0, table
    async with tenant_session(runtime_sessions, b.id) as session:
        assert (await session.execute(text("select count(*) from requests"))).scalar_one() == 1
        assert (await session.execute(text("select count(*) from api_keys"))).scalar_one() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "insert into api_keys (tenant_id, name, prefix, key_hash) values (:b, 'x', 'p', md5(random()::text))",
        "insert into event_outbox (tenant_id, event_id, subject, payload) values (:b, gen_random_uuid(), 's', '{}')",
        "insert into tenants (id, name, slug) values (:b, 'x', 'x-' || substr(md5(random()::text), 1, 8))",
    ],
)
async def test_tenant_cannot_insert_rows_for_another_tenant(two_tenants, runtime_sessions, statement):
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(text(statement), {"b": b.id})


async def test_tenant_cannot_move_its_row_to_another_tenant(two_tenants, runtime_sessions):
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(text("update requests set tenant_id = :b"), {"b": b.id})


async def test_pooled_connection_does_not_leak_previous_tenant(two_tenants, infra_urls):
    a, b = two_tenants
    engine = create_engine(infra_urls.database_url, pool_size=1)
    engine.pool._max_overflow = 0  # exactly one physical connection
    sessions = session_factory(engine)
    try:
        async with tenant_session(sessions, b.id) as session:
            pid_b = (await session.execute(text("select pg_backend_pid()"))).scalar_one()
            assert (await session.execute(text("select count(*) from requests"))).scalar_one() == 1
        async with tenant_session(sessions, a.id) as session:
            pid_a = (await session.execute(text("select pg_backend_pid()"))).scalar_one()
            ids = (await session.execute(text("select distinct tenant_id from requests"))).scalars().all()
        assert pid_a == pid_b
        assert ids == [a.id]
        async with sessions() as session:
            for table in TENANT_TABLES:
                assert (await session.execute(text(f"select count(*) from {table}"))).scalar_one() == 0, table
    finally:
        await engine.dispose()


async def test_query_without_tenant_sees_no_rows(two_tenants, runtime_engine):
    async with runtime_engine.connect() as conn:
        for table in TENANT_TABLES:
            assert (await conn.execute(text(f"select count(*) from {table}"))).scalar_one() == 0, table


async def test_api_key_lookup_function_is_the_only_cross_tenant_read(two_tenants, runtime_engine):
    a, _ = two_tenants
    from aiaas.auth import hash_api_key

    async with runtime_engine.connect() as conn:
        row = (
            await conn.execute(
                text("select tenant_id, active from auth_lookup_api_key(:h)"), {"h": hash_api_key(a.api_key)}
            )
        ).one()
        assert row.tenant_id == a.id and row.active is True
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(text("set role key_resolver"))
