"""Foundation: tenants, api_keys, requests, event_outbox; RLS on every tenant table.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Table -> the column holding its tenant. Every table here is a tenant table.
TENANT_TABLES = {
    "tenants": "id",
    "api_keys": "tenant_id",
    "requests": "tenant_id",
    "event_outbox": "tenant_id",
}


def enable_tenant_rls(table: str, column: str) -> None:
    """ENABLE + FORCE RLS; app_runtime sees only the transaction's tenant, platform_admin all."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(
        f"create policy tenant_isolation on {table} for all to app_runtime "
        f"using ({column} = app_current_tenant()) with check ({column} = app_current_tenant())"
    )
    op.execute(f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)")
    op.execute(f"grant select, insert, update, delete on {table} to app_runtime, platform_admin")


def upgrade() -> None:
    # '' (not NULL) is what a transaction-local setting reverts to on a pooled
    # connection, so both mean "no tenant": the policy then matches no row.
    op.execute(
        """
        create function app_current_tenant() returns uuid
        language sql stable parallel safe
        as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$
        """
    )
    op.execute(
        """
        create table tenants (
            id uuid primary key default gen_random_uuid(),
            name text not null check (length(name) between 1 and 200),
            slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
            status text not null default 'active' check (status in ('active', 'suspended')),
            rate_limit_rpm integer check (rate_limit_rpm > 0),
            rate_limit_tpm integer check (rate_limit_tpm > 0),
            created_at timestamptz not null default now()
        )
        """
    )
    op.execute(
        """
        create table api_keys (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id) on delete cascade,
            name text not null check (length(name) between 1 and 200),
            prefix text not null,
            key_hash text not null unique,
            scopes text[] not null default '{chat}',
            rpm_limit integer check (rpm_limit > 0),
            tpm_limit integer check (tpm_limit > 0),
            created_at timestamptz not null default now(),
            revoked_at timestamptz
        )
        """
    )
    op.execute("create index api_keys_tenant on api_keys (tenant_id)")
    op.execute(
        """
        create table requests (
            id bigint generated always as identity primary key,
            event_id uuid not null unique,
            request_id text not null,
            tenant_id uuid not null references tenants (id),
            api_key_id uuid,
            model_alias text not null,
            provider text,
            deployment text,
            upstream_model text,
            stream boolean not null,
            status text not null check (status in ('success', 'error', 'cancelled')),
            http_status integer,
            error_code text,
            tokens_in integer not null default 0 check (tokens_in >= 0),
            tokens_out integer not null default 0 check (tokens_out >= 0),
            cost numeric(20, 10) not null default 0,
            latency_ms double precision,
            ttft_ms double precision,
            attempts integer not null default 1,
            started_at timestamptz not null,
            completed_at timestamptz not null,
            recorded_at timestamptz not null default now(),
            unique (tenant_id, request_id)
        )
        """
    )
    op.execute("create index requests_tenant_time on requests (tenant_id, started_at)")
    op.execute(
        """
        create table event_outbox (
            id bigint generated always as identity primary key,
            tenant_id uuid not null,
            event_id uuid not null unique,
            subject text not null,
            payload jsonb not null,
            created_at timestamptz not null default now(),
            published_at timestamptz,
            -- Rows no stream accepts (a subject without a stream) stop being retried after a few tries.
            attempts integer not null default 0,
            last_error text
        )
        """
    )
    op.execute("create index event_outbox_pending on event_outbox (id) where published_at is null")

    for table, column in TENANT_TABLES.items():
        enable_tenant_rls(table, column)

    # The lookup function runs as key_resolver, which may read keys and tenants
    # of every tenant, but only through this function (no one can log in as it).
    op.execute("grant select on api_keys, tenants to key_resolver")
    op.execute("create policy key_lookup on api_keys for select to key_resolver using (true)")
    op.execute("create policy key_lookup on tenants for select to key_resolver using (true)")
    op.execute(
        """
        create function auth_lookup_api_key(p_key_hash text)
        returns table (key_id uuid, tenant_id uuid, scopes text[], key_rpm integer, key_tpm integer,
                       tenant_rpm integer, tenant_tpm integer, active boolean)
        language sql stable security definer
        set search_path = public, pg_temp
        as $$
            select k.id, k.tenant_id, k.scopes, k.rpm_limit, k.tpm_limit,
                   t.rate_limit_rpm, t.rate_limit_tpm,
                   (k.revoked_at is null and t.status = 'active')
            from api_keys k join tenants t on t.id = k.tenant_id
            where k.key_hash = p_key_hash
        $$
        """
    )
    op.execute("alter function auth_lookup_api_key(text) owner to key_resolver")
    op.execute("revoke all on function auth_lookup_api_key(text) from public")
    op.execute("grant execute on function auth_lookup_api_key(text) to app_runtime, platform_admin")
    op.execute("grant execute on function app_current_tenant() to app_runtime, platform_admin")


def downgrade() -> None:
    op.execute("drop function if exists auth_lookup_api_key(text)")
    for table in ("event_outbox", "requests", "api_keys", "tenants"):
        op.execute(f"drop table if exists {table} cascade")
    op.execute("drop function if exists app_current_tenant()")
