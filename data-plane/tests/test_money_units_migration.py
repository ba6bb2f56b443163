"""0011_money_units renames money columns and registry keys without changing any amount, both ways.

Runs on a throwaway database (created and dropped here), so the shared one is never migrated backwards.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from data_plane.migrate import downgrade, upgrade

BEFORE = ("0003_billing", "0004_analytics", "0006_control_plane")
REVISION = "0011_money_units"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
# Amounts with every digit the columns hold, so a conversion (x100, a float, a rounding) would show.
COST_USD = Decimal("0.0001234567")
ROLLUP_COST_USD = Decimal("123456789012345678.0123456789")
PRICE_IN, PRICE_OUT = Decimal("0.0123456789"), Decimal("9999999999.9999999999")
PERIOD_CHARGE = Decimal("12345678901234567890.1234567891")
LEDGER_CHARGE = Decimal("0.0000000001")
UNIT_AMOUNT = Decimal("1.5000000001")
REGISTRY = {
    "name": "m",
    "deployments": [
        {
            "name": "a",
            "provider": "openai",
            "model": "x",
            "input_price_per_1k": "0.00015",
            "output_price_per_1k": "0.0006",
        },
        {"name": "b", "provider": "anthropic", "model": "y", "input_price_per_1k": "3", "timeout_s": 5},
    ],
}


async def _seed(dsn: str) -> uuid.UUID:
    """Rows with known amounts under the old names (as superuser: RLS does not apply)."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant = await conn.fetchval("insert into tenants (name, slug) values ('t', 't') returning id")
        await conn.execute(
            "insert into requests (event_id, request_id, tenant_id, model_alias, stream, status, cost, started_at,"
            " completed_at) values ($1, 'r1', $2, 'm', false, 'success', $3, $4, $4)",
            uuid.uuid4(),
            tenant,
            COST_USD,
            T0,
        )
        await conn.execute(
            "insert into analytics_usage_rollups (tenant_id, granularity, bucket, model_alias, api_key_id, cost,"
            " latency_sketch, ttft_sketch) values ($1, 'day', $2, 'm', $3, $4, '', '')",
            tenant,
            T0,
            uuid.uuid4(),
            ROLLUP_COST_USD,
        )
        await conn.execute(
            "insert into plan_prices (plan_code, tier, input_per_1k, output_per_1k) values ('free', 'money', $1, $2)",
            PRICE_IN,
            PRICE_OUT,
        )
        await conn.execute(
            "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, plan_since,"
            " period_charge) values ($1, 'free', $2, $3, $2, $4)",
            tenant,
            T0,
            datetime(2026, 4, 1, tzinfo=UTC),
            PERIOD_CHARGE,
        )
        await conn.execute(
            "insert into usage_ledger (event_id, tenant_id, period_start, model_alias, tier, tokens_in, tokens_out,"
            " price_in_per_1k, price_out_per_1k, charge, occurred_at) values ($1, $2, $3, 'm', 'money', 1, 2, $4, $5,"
            " $6, $3)",
            uuid.uuid4(),
            tenant,
            T0,
            PRICE_IN,
            PRICE_OUT,
            LEDGER_CHARGE,
        )
        invoice = await conn.fetchval(
            "insert into invoices (tenant_id, plan_code, period_start, period_end, currency, subtotal_minor,"
            " credits_applied_minor, tax_rate, tax_minor, total_minor) values ($1, 'free', $2, $2, 'usd', 2, 0, 0,"
            " 0, 2) returning id",
            tenant,
            T0,
        )
        await conn.execute(
            "insert into invoice_lines (invoice_id, position, tenant_id, kind, description, quantity, unit_amount,"
            " amount_minor) values ($1, 1, $2, 'usage', 'd', 1000, $3, 2)",
            invoice,
            tenant,
            UNIT_AMOUNT,
        )
        await conn.execute(
            "insert into model_registry (alias, version, config, created_by) values ('m', 1, $1, 'test')",
            json.dumps(REGISTRY),
        )
    finally:
        await conn.close()
    return tenant


async def _read(dsn: str, names: dict[str, str]) -> dict[str, object]:
    """Every seeded amount, read under `names` (new name -> the column's name in this schema)."""
    n = names
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "cost_usd": await conn.fetchval(f"select {n['cost_usd']} from requests"),
            "rollup_cost_usd": await conn.fetchval(f"select {n['cost_usd']} from analytics_usage_rollups"),
            "prices": tuple(
                await conn.fetchrow(
                    f"select {n['input_minor_per_1k']}, {n['output_minor_per_1k']} from plan_prices"
                    " where tier = 'money'"
                )
            ),
            "period_charge_minor": await conn.fetchval(f"select {n['period_charge_minor']} from subscriptions"),
            "ledger": tuple(
                await conn.fetchrow(
                    f"select {n['ledger_input']}, {n['ledger_output']}, {n['charge_minor']} from usage_ledger"
                )
            ),
            "unit_amount_minor": await conn.fetchval(f"select {n['unit_amount_minor']} from invoice_lines"),
            "registry": json.loads(await conn.fetchval("select config from model_registry where alias = 'm'")),
        }
    finally:
        await conn.close()


OLD = {
    "cost_usd": "cost",
    "input_minor_per_1k": "input_per_1k",
    "output_minor_per_1k": "output_per_1k",
    "period_charge_minor": "period_charge",
    "ledger_input": "price_in_per_1k",
    "ledger_output": "price_out_per_1k",
    "charge_minor": "charge",
    "unit_amount_minor": "unit_amount",
}
NEW = {
    **{key: key for key in OLD},
    "ledger_input": "input_minor_per_1k",
    "ledger_output": "output_minor_per_1k",
}


def _renamed_registry(doc: dict) -> dict:
    keys = {"input_price_per_1k": "input_usd_per_1k", "output_price_per_1k": "output_usd_per_1k"}
    deployments = [{keys.get(k, k): v for k, v in dep.items()} for dep in doc["deployments"]]
    return {**doc, "deployments": deployments}


def test_amounts_are_equal_before_and_after_the_migration(scratch):
    settings, dsn = scratch
    for revision in BEFORE:
        upgrade(settings, revision)
    asyncio.run(_seed(dsn))
    before = asyncio.run(_read(dsn, OLD))
    assert before["cost_usd"] == COST_USD and before["rollup_cost_usd"] == ROLLUP_COST_USD
    assert before["prices"] == (PRICE_IN, PRICE_OUT)
    assert before["period_charge_minor"] == PERIOD_CHARGE
    assert before["ledger"] == (PRICE_IN, PRICE_OUT, LEDGER_CHARGE)
    assert before["unit_amount_minor"] == UNIT_AMOUNT
    assert before["registry"] == REGISTRY

    upgrade(settings, REVISION)
    after = asyncio.run(_read(dsn, NEW))
    assert {k: v for k, v in after.items() if k != "registry"} == {k: v for k, v in before.items() if k != "registry"}
    # Same JSON values (strings stay the same strings, numbers the same numbers), only the keys renamed.
    assert after["registry"] == _renamed_registry(REGISTRY)
    assert after["registry"]["deployments"][0]["input_usd_per_1k"] == "0.00015"

    downgrade(settings, "0003_billing")
    back = asyncio.run(_read(dsn, OLD))
    assert back == before
