"""Money says its unit: columns and registry documents renamed, no amount changed.

Integer or decimal minor units (cents) end in `_minor` (prices: `_minor_per_1k`); US dollars end in
`_usd` (prices: `_usd_per_1k`). Columns are renamed in place (`alter table ... rename column`: same
type, same values, constraints follow the column). The model registry's JSONB documents get their
deployment price keys renamed in place, values untouched. Downgrade renames everything back.

Revision ID: 0011_money_units
Revises: 0003_billing, 0004_analytics, 0006_control_plane
Create Date: 2026-12-06
"""

from alembic import op

revision = "0011_money_units"
down_revision = ("0003_billing", "0004_analytics", "0006_control_plane")
branch_labels = None
depends_on = None

# (table, old column, new column)
COLUMN_RENAMES = (
    ("requests", "cost", "cost_usd"),
    ("analytics_usage_rollups", "cost", "cost_usd"),
    ("plan_prices", "input_per_1k", "input_minor_per_1k"),
    ("plan_prices", "output_per_1k", "output_minor_per_1k"),
    ("subscriptions", "period_charge", "period_charge_minor"),
    ("usage_ledger", "price_in_per_1k", "input_minor_per_1k"),
    ("usage_ledger", "price_out_per_1k", "output_minor_per_1k"),
    ("usage_ledger", "charge", "charge_minor"),
    ("invoice_lines", "unit_amount", "unit_amount_minor"),
)
# Keys of each deployment in `model_registry.config -> 'deployments'`.
REGISTRY_KEY_RENAMES = (
    ("input_price_per_1k", "input_usd_per_1k"),
    ("output_price_per_1k", "output_usd_per_1k"),
)


def _rename_deployment_keys(renames: tuple[tuple[str, str], ...]) -> None:
    # Each deployment object loses the old key and gains the new one with the very same JSON value.
    expr = "d"
    for old, new in renames:
        renamed = f"({expr} - '{old}') || jsonb_build_object('{new}', {expr} -> '{old}')"
        expr = f"(case when {expr} ? '{old}' then {renamed} else {expr} end)"
    has_old = " or ".join(f"d ? '{old}'" for old, _ in renames)
    # model_registry forces row level security and no policy names the owner: lift it for this statement only
    # (inside the migration's transaction, so no other session ever sees the table without it).
    op.execute("alter table model_registry no force row level security")
    op.execute(
        # Built from the constant key names above only, never from input.
        f"""
        update model_registry set config = jsonb_set(config, '{{deployments}}', (
            select jsonb_agg({expr} order by n) from jsonb_array_elements(config -> 'deployments')
                with ordinality as e(d, n)
        ))
        where jsonb_typeof(config -> 'deployments') = 'array'
          and exists (select 1 from jsonb_array_elements(config -> 'deployments') as e(d) where {has_old})
        """  # noqa: S608  # nosec B608
    )
    op.execute("alter table model_registry force row level security")


def upgrade() -> None:
    for table, old, new in COLUMN_RENAMES:
        op.execute(f"alter table {table} rename column {old} to {new}")
    _rename_deployment_keys(REGISTRY_KEY_RENAMES)


def downgrade() -> None:
    for table, old, new in reversed(COLUMN_RENAMES):
        op.execute(f"alter table {table} rename column {new} to {old}")
    _rename_deployment_keys(tuple((new, old) for old, new in REGISTRY_KEY_RENAMES))
