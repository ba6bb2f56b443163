"""Analytics read models (CQRS): usage rollups with latency/TTFT sketches, billing event counts, applied ids.

Every table is a tenant table under RLS (ENABLE + FORCE, the two policies of 0001).
Rows are written only by the analytics consumer from events; `python -m analytics
rebuild` truncates them (as platform_admin, hence its TRUNCATE grant) and replays.

Revision ID: 0004_analytics
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0004_analytics"
down_revision = "0002"
branch_labels = None
depends_on = None

TENANT_TABLES = {
    "analytics_usage_rollups": "tenant_id",
    "analytics_billing_event_counts": "tenant_id",
    "analytics_events_applied": "tenant_id",
}


def enable_tenant_rls(table: str, column: str) -> None:
    """ENABLE + FORCE RLS; app_runtime sees only the transaction's tenant, platform_admin all (as in 0001)."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(
        f"create policy tenant_isolation on {table} for all to app_runtime "
        f"using ({column} = app_current_tenant()) with check ({column} = app_current_tenant())"
    )
    op.execute(f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)")
    op.execute(f"grant select, insert, update, delete on {table} to app_runtime, platform_admin")
    # The rebuild empties the read models in one statement; TRUNCATE bypasses RLS, so only the admin role.
    op.execute(f"grant truncate on {table} to platform_admin")


def upgrade() -> None:
    # One row per tenant x granularity x bucket (UTC start) x model alias x API key.
    # Sketches: serialized DDSketch (relative accuracy 1 %), merged under a per-tenant lock on write.
    op.execute(
        """
        create table analytics_usage_rollups (
            tenant_id uuid not null,
            granularity text not null check (granularity in ('minute', 'hour', 'day')),
            bucket timestamptz not null,
            model_alias text not null,
            api_key_id uuid not null,
            requests bigint not null default 0 check (requests >= 0),
            succeeded bigint not null default 0 check (succeeded >= 0),
            errored bigint not null default 0 check (errored >= 0),
            cancelled bigint not null default 0 check (cancelled >= 0),
            tokens_in bigint not null default 0 check (tokens_in >= 0),
            tokens_out bigint not null default 0 check (tokens_out >= 0),
            cost numeric(28, 10) not null default 0 check (cost >= 0),
            -- cache_observed: events that carried a cache-hit flag at all; cache_hits: those with it true.
            cache_hits bigint not null default 0 check (cache_hits >= 0),
            cache_observed bigint not null default 0 check (cache_observed >= 0),
            latency_sketch bytea not null,
            ttft_sketch bytea not null,
            updated_at timestamptz not null default now(),
            primary key (tenant_id, granularity, bucket, model_alias, api_key_id)
        )
        """
    )
    op.execute(
        """
        create table analytics_billing_event_counts (
            tenant_id uuid not null,
            event_type text not null,
            day date not null,
            events bigint not null default 0 check (events >= 0),
            last_occurred_at timestamptz not null,
            primary key (tenant_id, event_type, day)
        )
        """
    )
    # Idempotency: an event changes the read models only in the transaction that inserts its id here.
    op.execute(
        """
        create table analytics_events_applied (
            event_id uuid primary key,
            tenant_id uuid not null,
            stream text not null,
            applied_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index analytics_events_applied_tenant on analytics_events_applied (tenant_id, applied_at)")
    for table, column in TENANT_TABLES.items():
        enable_tenant_rls(table, column)


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"drop table if exists {table} cascade")
