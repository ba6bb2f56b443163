"""0023_usage_cache_router: seeds the plans' fee per cache hit, widens the meters and line kinds, and goes back.

Runs on a throwaway database (created and dropped here), so the shared one is never migrated backwards.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from data_plane.migrate import downgrade, upgrade

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NEW_COLUMNS = {
    ("requests", "cache_status"),
    ("requests", "router_decision_id"),
    ("requests", "router_tier"),
    ("requests", "router_reason"),
    ("requests", "requested_alias"),
    ("plans", "cache_hit_fee_minor"),
    ("usage_ledger", "cache_status"),
    ("usage_ledger", "cached_tokens"),
    ("usage_ledger", "cache_hit_fee_minor"),
    ("analytics_usage_rollups", "cache_semantic_hits"),
    ("analytics_usage_rollups", "cache_tokens_saved"),
}


async def _columns(dsn: str) -> set[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select table_name, column_name from information_schema.columns")
        return {(r["table_name"], r["column_name"]) for r in rows} & NEW_COLUMNS
    finally:
        await conn.close()


async def _after_upgrade(dsn: str) -> dict[str, Decimal]:
    """The seeded fees; and rows of the new meters and line kind are accepted (as superuser: no RLS)."""
    conn = await asyncpg.connect(dsn)
    try:
        fees = {
            r["code"]: r["cache_hit_fee_minor"] for r in await conn.fetch("select code, cache_hit_fee_minor from plans")
        }
        tenant = await conn.fetchval("insert into tenants (name, slug) values ('t', 't') returning id")
        for meter in ("cache_hits_exact", "cache_hits_semantic", "cached_tokens"):
            await conn.execute(
                "insert into usage_counters (tenant_id, period_start, model_alias, meter, quantity)"
                " values ($1, $2, 'm', $3, 2)",
                tenant,
                T0,
                meter,
            )
        await conn.execute(
            "insert into usage_ledger (event_id, tenant_id, period_start, model_alias, tier, tokens_in, tokens_out,"
            " input_minor_per_1k, output_minor_per_1k, charge_minor, occurred_at, cache_status, cached_tokens,"
            " cache_hit_fee_minor) values ($1, $2, $3, 'm', 'standard', 0, 0, 1, 2, 0.5, $3, 'exact', 30, 0.5)",
            uuid.uuid4(),
            tenant,
            T0,
        )
        invoice = await conn.fetchval(
            "insert into invoices (tenant_id, plan_code, period_start, period_end, currency, subtotal_minor,"
            " credits_applied_minor, tax_rate, tax_minor, total_minor)"
            " values ($1, 'free', $2, $3, 'usd', 1, 0, 0, 0, 1) returning id",
            tenant,
            T0,
            datetime(2026, 4, 1, tzinfo=UTC),
        )
        await conn.execute(
            "insert into invoice_lines (invoice_id, position, tenant_id, kind, description, meter, quantity,"
            " overage_units, unit_amount_minor, amount_minor) values ($1, 1, $2, 'cache_hits', 'exact cache hits',"
            " 'cache_hits_exact', 2, 2, 0.5, 1)",
            invoice,
            tenant,
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "insert into usage_counters (tenant_id, period_start, model_alias, meter, quantity)"
                " values ($1, $2, 'm', 'cache_hits_fuzzy', 1)",
                tenant,
                T0,
            )
        forced = await conn.fetchval(
            "select relforcerowsecurity from pg_class where relname = 'analytics_router_tiers'"
        )
        assert forced is True
        # Back to a state the narrower checks accept: invoice lines are immutable, so that invoice goes with its
        # tenant's database only; drop its line by disabling the trigger for this superuser session.
        await conn.execute("alter table invoice_lines disable trigger invoice_lines_immutable")
        await conn.execute("delete from invoice_lines where invoice_id = $1", invoice)
        await conn.execute("alter table invoice_lines enable trigger invoice_lines_immutable")
        return fees
    finally:
        await conn.close()


def test_upgrade_seeds_fees_and_widens_checks_and_downgrade_reverts(scratch) -> None:
    settings, dsn = scratch
    upgrade(settings)
    assert asyncio.run(_columns(dsn)) == NEW_COLUMNS
    fees = asyncio.run(_after_upgrade(dsn))
    assert {code: fees[code] for code in ("free", "pro", "enterprise")} == {
        "free": Decimal(0),
        "pro": Decimal("0.02"),
        "enterprise": Decimal("0.01"),
    }

    downgrade(settings, "0023_usage_cache_router-1")
    assert asyncio.run(_columns(dsn)) == set()
    upgrade(settings)
    assert asyncio.run(_columns(dsn)) == NEW_COLUMNS
