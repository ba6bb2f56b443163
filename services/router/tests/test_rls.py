"""The router's four tenant tables under FORCE RLS: through app_runtime a tenant can neither write rows for another
tenant nor see, change or delete them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from aiaas_testing import TenantWithKey

_INSERTS = {
    "router_policies": "insert into router_policies (tenant_id, tiers, lambda, exploration_cap, early_exit_bar,"
    " updated_at) values (:tid, '[]'::jsonb, 0.1, 0.05, 0.9, :now)",
    "router_decisions": "insert into router_decisions (id, tenant_id, created_at, router_version, tier, model, reason,"
    " allowed, stronger_allowed, expected_cost_usd, latency_ms, context_key, conversation_key, request_hash) values"
    " (gen_random_uuid(), :tid, :now, 'v', 'cheap', 'm', 'classifier', '{cheap,strong}', true, 0, 1, 'general',"
    " 'c', 'h')",
    "router_rewards": "insert into router_rewards (tenant_id, decision_id, signal_id, outcome, source, created_at)"
    " values (:tid, gen_random_uuid(), 's', 'failure', 'feedback', :now)",
    "router_bandit_arms": "insert into router_bandit_arms (tenant_id, context_key, tier, failures, updated_at)"
    " values (:tid, 'math', 'cheap', 1, :now)",
}


@pytest.mark.parametrize("table", sorted(_INSERTS))
async def test_a_tenant_cannot_write_or_read_another_tenants_router_rows(
    table: str,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    runtime_sessions: async_sessionmaker[AsyncSession],
) -> None:
    a, b = await make_tenant(), await make_tenant()
    async with tenant_session(runtime_sessions, b.id) as session:
        await session.execute(text(_INSERTS[table]), {"tid": b.id, "now": clock.now()})
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(text(_INSERTS[table]), {"tid": b.id, "now": clock.now()})
    async with tenant_session(runtime_sessions, a.id) as session:
        assert (await session.execute(text(f"select count(*) from {table}"))).scalar_one() == 0  # noqa: S608
        updated = await session.execute(
            text(f"update {table} set tenant_id = tenant_id where tenant_id = :b"), {"b": b.id}
        )  # noqa: S608
        deleted = await session.execute(text(f"delete from {table} where tenant_id = :b"), {"b": b.id})  # noqa: S608
        assert (updated.rowcount, deleted.rowcount) == (0, 0)  # type: ignore[attr-defined]
    async with tenant_session(runtime_sessions, b.id) as session:
        assert (await session.execute(text(f"select count(*) from {table}"))).scalar_one() == 1  # noqa: S608
