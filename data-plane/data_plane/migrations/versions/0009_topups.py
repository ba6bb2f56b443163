"""Paid top-ups (Stripe Checkout Sessions) and audited admin credit grants.

Revision ID: 0009_topups
Revises: 0005_stripe (depends on 0003_billing)
Create Date: 2026-12-06

`top_ups`: one row per tenant top-up, created `pending` with its Checkout Session and settled once
by Stripe's signed webhook (paid -> credited, or failed / expired / mismatch -> nothing). The credit
and the status change commit in one transaction; the session id is unique, and the credit's ledger
key is `checkout:<session id>`, so no session is ever credited twice.
`credit_grants`: credit a platform admin granted, with who, when, how much and why. Tenants may read
their own rows; only platform_admin writes them.
`credit_ledger.reason` gains `grant`; `stripe_webhook_events.outcome` gains `unchanged` (an event
about a top-up that was already settled) and `mismatch` (a paid session whose amount or currency is
not the top-up's: nothing credited).
"""

from alembic import op

revision = "0009_topups"
down_revision = "0005_stripe"
branch_labels = None
# credit_ledger lives on the 0003_billing branch.
depends_on = ("0003_billing",)


def enable_tenant_rls(table: str, runtime_grants: str) -> None:
    """ENABLE + FORCE RLS; app_runtime sees only the transaction's tenant, platform_admin all (as 0003)."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(
        f"create policy tenant_isolation on {table} for all to app_runtime "
        "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
    )
    op.execute(f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)")
    op.execute(f"grant {runtime_grants} on {table} to app_runtime")
    op.execute(f"grant select, insert, update, delete on {table} to platform_admin")


def _set_check(table: str, column: str, values: tuple[str, ...], *, not_valid: bool = False) -> None:
    name = f"{table}_{column}_check"
    allowed = ", ".join(f"'{value}'" for value in values)
    op.execute(f"alter table {table} drop constraint if exists {name}")
    suffix = " not valid" if not_valid else ""
    op.execute(f"alter table {table} add constraint {name} check ({column} in ({allowed})){suffix}")


def upgrade() -> None:
    op.execute(
        """
        create table top_ups (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id),
            idempotency_key text not null check (length(idempotency_key) between 1 and 300),
            amount_minor bigint not null check (amount_minor > 0),
            currency text not null check (currency ~ '^[a-z]{3}$'),
            status text not null default 'pending'
                check (status in ('pending', 'paid', 'failed', 'expired', 'mismatch')),
            checkout_session_id text not null unique check (checkout_session_id ~ '^cs_[A-Za-z0-9_]+$'),
            checkout_url text,
            expires_at timestamptz,
            -- The credit_ledger row of a paid top-up (no foreign key: another migration branch).
            credit_id bigint,
            failure_reason text,
            created_at timestamptz not null default now(),
            settled_at timestamptz,
            unique (tenant_id, idempotency_key),
            check ((status = 'paid') = (credit_id is not null))
        )
        """
    )
    op.execute("create index top_ups_tenant on top_ups (tenant_id, created_at desc)")
    op.execute(
        """
        create table credit_grants (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id),
            idempotency_key text not null check (length(idempotency_key) between 1 and 300),
            amount_minor bigint not null check (amount_minor > 0),
            currency text not null check (currency ~ '^[a-z]{3}$'),
            reason text not null check (length(btrim(reason)) between 1 and 1000),
            -- Who granted it: the name the admin dependency gives, and the admin key's id once keys are named.
            actor text not null check (length(actor) between 1 and 200),
            admin_key_id uuid,
            credit_id bigint not null,
            created_at timestamptz not null default now(),
            unique (tenant_id, idempotency_key)
        )
        """
    )
    op.execute("create index credit_grants_tenant on credit_grants (tenant_id, created_at desc)")
    # The tenant API creates top-ups and the webhook settles them in the tenant's transaction;
    # grants are written by platform admins only.
    enable_tenant_rls("top_ups", "select, insert, update")
    enable_tenant_rls("credit_grants", "select")
    _set_check("credit_ledger", "reason", ("top_up", "usage", "invoice", "grant"))
    _set_check(
        "stripe_webhook_events",
        "outcome",
        ("processed", "ignored", "unmapped", "stale", "unchanged", "mismatch"),
    )


def downgrade() -> None:
    op.execute("drop table if exists credit_grants")
    op.execute("drop table if exists top_ups")
    # Rows written under the wider checks stay; only new rows are held to the old ones.
    _set_check("credit_ledger", "reason", ("top_up", "usage", "invoice"), not_valid=True)
    _set_check("stripe_webhook_events", "outcome", ("processed", "ignored", "unmapped", "stale"), not_valid=True)
