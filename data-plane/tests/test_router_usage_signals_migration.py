"""0025_router_usage_signals: cost and latency signals, cost ratios on the arms, a latency SLO; and back, exactly."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from data_plane.migrate import downgrade, upgrade

NOW = datetime(2026, 3, 1, tzinfo=UTC)
TABLES = ("router_rewards", "router_bandit_arms", "router_policies")


async def _schema(dsn: str) -> dict[str, Any]:
    """The three tables' columns, check constraints, RLS flags and policies."""
    conn = await asyncpg.connect(dsn)
    try:
        out: dict[str, Any] = {}
        for table in TABLES:
            columns = await conn.fetch(
                "select column_name, data_type, is_nullable, column_default from information_schema.columns "
                "where table_schema = 'public' and table_name = $1 order by column_name",
                table,
            )
            checks = await conn.fetch(
                "select conname, pg_get_constraintdef(oid) as def from pg_constraint "
                "where conrelid = $1::regclass and contype = 'c' order by conname",
                table,
            )
            rls = await conn.fetchrow(
                "select relrowsecurity, relforcerowsecurity from pg_class where oid = $1::regclass", table
            )
            policies = await conn.fetch(
                "select policyname, roles::text[] as roles, cmd, qual, with_check from pg_policies "
                "where tablename = $1 order by policyname",
                table,
            )
            out[table] = {
                "columns": [tuple(r) for r in columns],
                "checks": [tuple(r) for r in checks],
                "rls": tuple(rls),
                "policies": [tuple(r) for r in policies],
            }
        return out
    finally:
        await conn.close()


async def _tenant(conn: asyncpg.Connection) -> uuid.UUID:
    tenant: uuid.UUID = await conn.fetchval(
        "insert into tenants (name, slug) values ($1, $1) returning id", uuid.uuid4().hex
    )
    return tenant


async def _reward(
    conn: asyncpg.Connection, tenant: uuid.UUID, signal: str, outcome: str, source: str, **extra: Any
) -> None:
    columns = ["tenant_id", "decision_id", "signal_id", "outcome", "source", "created_at", *extra]
    values = [tenant, uuid.uuid4(), signal, outcome, source, NOW, *extra.values()]
    marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    await conn.execute(f"insert into router_rewards ({', '.join(columns)}) values ({marks})", *values)  # noqa: S608


async def _upgraded_rows(dsn: str) -> uuid.UUID:
    """Write what the new columns and checks allow, and check what they refuse (as superuser: RLS not in play)."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant = await _tenant(conn)
        await _reward(conn, tenant, "usage:r1", "failure", "usage")
        await _reward(conn, tenant, "latency:r2", "failure", "latency")
        await _reward(conn, tenant, "cost:r3", "cost", "cost", cost_usd=0.004)
        refused = [
            ("cost:bad", "cost", "cost", {"cost_usd": -0.1}),  # a negative cost
            ("cost:none", "cost", "cost", {}),  # a cost signal without its cost
            ("feedback:x", "success", "feedback", {"cost_usd": 0.1}),  # a cost on a quality signal
            ("other:x", "other", "usage", {}),  # an unknown outcome
            ("other:y", "failure", "other", {}),  # an unknown source
        ]
        for signal, outcome, source, extra in refused:
            with pytest.raises(asyncpg.CheckViolationError):
                await _reward(conn, tenant, signal, outcome, source, **extra)
        await conn.execute(
            "insert into router_bandit_arms (tenant_id, context_key, tier, updated_at)"
            " values ($1, 'math', 'cheap', $2)",
            tenant,
            NOW,
        )
        arm = await conn.fetchrow("select cost_ratio_sum, cost_observations from router_bandit_arms")
        assert tuple(arm) == (0.0, 0.0)
        for column in ("cost_ratio_sum", "cost_observations"):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"update router_bandit_arms set {column} = -1")  # noqa: S608
        policy = (
            "insert into router_policies (tenant_id, tiers, lambda, exploration_cap, early_exit_bar, updated_at,"
            " latency_slo_ms) values ($1, '[]'::jsonb, 0.05, 0.05, 0.9, $2, $3)"
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(policy, tenant, NOW, 0)
        await conn.execute(policy, tenant, NOW, None)
        await conn.execute("update router_policies set latency_slo_ms = 1500")
        return tenant
    finally:
        await conn.close()


async def _rows_after_downgrade(dsn: str, tenant: uuid.UUID) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("select count(*) from router_bandit_arms where tenant_id = $1", tenant) == 1
        assert await conn.fetchval("select count(*) from router_policies where tenant_id = $1", tenant) == 1
        rows = await conn.fetch(
            "select signal_id, outcome, source from router_rewards where tenant_id = $1 order by signal_id", tenant
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


def test_usage_signals_columns_and_checks_and_downgrade_restores_the_schema_exactly(scratch) -> None:
    settings, dsn = scratch
    upgrade(settings, "0021_router_versions")
    before = asyncio.run(_schema(dsn))
    upgrade(settings)
    after = asyncio.run(_schema(dsn))
    assert after != before
    for table in TABLES:  # still under their own ENABLE + FORCE RLS and policies
        assert after[table]["rls"] == (True, True)
        assert after[table]["policies"] == before[table]["policies"]
    new_columns = {t: {c[0] for c in after[t]["columns"]} - {c[0] for c in before[t]["columns"]} for t in TABLES}
    assert new_columns == {
        "router_rewards": {"cost_usd"},
        "router_bandit_arms": {"cost_ratio_sum", "cost_observations"},
        "router_policies": {"latency_slo_ms"},
    }
    tenant = asyncio.run(_upgraded_rows(dsn))

    downgrade(settings, "0021_router_versions")
    assert asyncio.run(_schema(dsn)) == before
    # The signals the old checks cannot hold are gone; the others stay.
    assert asyncio.run(_rows_after_downgrade(dsn, tenant)) == [("usage:r1", "failure", "usage")]
    upgrade(settings)
    assert asyncio.run(_schema(dsn)) == after
