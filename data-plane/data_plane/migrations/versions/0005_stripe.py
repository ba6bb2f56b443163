"""Stripe integration: customer and invoice mappings, and received webhook events (insert-once).

Revision ID: 0005_stripe
Revises: 0002
Create Date: 2026-11-27

`stripe_customers` and `stripe_invoices` are written by billing's Stripe sync as the
tenant (app_runtime); the webhook, which carries no tenant credentials, reads them as
platform_admin to find the tenant and records each Stripe event id once in
`stripe_webhook_events` (tenant_id is null until the event is mapped to a tenant).
`invoice_id` has no foreign key: billing's `invoices` table lives on another migration
branch (0003_billing).
"""

from alembic import op

revision = "0005_stripe"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("stripe_customers", "stripe_invoices", "stripe_webhook_events")


def enable_tenant_rls(table: str, column: str = "tenant_id") -> None:
    """ENABLE + FORCE RLS; app_runtime sees only the transaction's tenant, platform_admin all (as 0001)."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(
        f"create policy tenant_isolation on {table} for all to app_runtime "
        f"using ({column} = app_current_tenant()) with check ({column} = app_current_tenant())"
    )
    op.execute(f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)")
    op.execute(f"grant select, insert, update, delete on {table} to app_runtime, platform_admin")


def upgrade() -> None:
    op.execute(
        """
        create table stripe_customers (
            tenant_id uuid primary key references tenants (id) on delete cascade,
            stripe_customer_id text not null unique check (stripe_customer_id ~ '^cus_[A-Za-z0-9]+$'),
            created_at timestamptz not null default now()
        )
        """
    )
    # A row is written as soon as the Stripe invoice exists (synced_at null): a sync interrupted
    # between creating and finalizing resumes on that invoice instead of creating a second one.
    op.execute(
        """
        create table stripe_invoices (
            invoice_id uuid primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            stripe_invoice_id text not null unique check (stripe_invoice_id ~ '^in_[A-Za-z0-9]+$'),
            created_at timestamptz not null default now(),
            synced_at timestamptz
        )
        """
    )
    op.execute("create index stripe_invoices_tenant on stripe_invoices (tenant_id)")
    op.execute(
        """
        create table stripe_webhook_events (
            event_id text primary key check (event_id ~ '^evt_[A-Za-z0-9]+$'),
            type text not null check (length(type) between 1 and 200),
            tenant_id uuid references tenants (id) on delete set null,
            object_id text,
            event_created timestamptz,
            outcome text not null default 'processed'
                check (outcome in ('processed', 'ignored', 'unmapped', 'stale')),
            received_at timestamptz not null default now(),
            processed_at timestamptz
        )
        """
    )
    # Finds the newest event already applied to an object, so an older one arriving late is skipped.
    op.execute("create index stripe_webhook_events_object on stripe_webhook_events (object_id, event_created desc)")
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"drop table if exists {table} cascade")
