"""Control plane: feature flags with plan and tenant overrides, their audit log, and the registries.

`feature_flags` and `flag_plan_overrides` are platform-wide (every tenant may read them, only
platform_admin writes); `flag_tenant_overrides` is a tenant table whose rows app_runtime may only
read, and only its own tenant's. `flag_audit_log` is append-only for platform_admin (a trigger
rejects UPDATE, DELETE and TRUNCATE) and invisible to app_runtime. `version` comes from one
sequence, so it only ever grows, even across a flag deleted and created again.

The registries (`model_registry`, `agent_registry`, `tool_registry`) keep every version written.

Revision ID: 0006_control_plane
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006_control_plane"
down_revision = "0002"
branch_labels = None
depends_on = None

_KEY = r"^[a-z][a-z0-9_.-]{0,63}$"
_CODE = r"^[a-z][a-z0-9_-]{0,39}$"
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
CATALOGUE_TABLES = ("feature_flags", "flag_plan_overrides", "model_registry", "agent_registry", "tool_registry")


def enable_catalogue_rls(table: str) -> None:
    """Platform-wide tables: every tenant may read them, only platform_admin writes (as in 0003)."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(f"create policy catalogue_read on {table} for select to app_runtime using (true)")
    op.execute(f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)")
    op.execute(f"grant select on {table} to app_runtime")
    op.execute(f"grant select, insert, update, delete on {table} to platform_admin")


def _flags() -> None:
    op.execute("create sequence feature_flag_version_seq")
    op.execute("grant usage, select on sequence feature_flag_version_seq to platform_admin")
    op.execute(
        f"""
        create table feature_flags (
            key text primary key check (key ~ '{_KEY}'),
            type text not null check (type in ('boolean', 'percentage', 'variant', 'integer', 'string_list')),
            default_value jsonb not null,
            -- variant flags: [{{"value": text, "weight": int | null}}, ...]; null for the other types
            variants jsonb check (variants is null or jsonb_typeof(variants) = 'array'),
            min_value bigint,
            max_value bigint check (max_value is null or min_value is null or max_value >= min_value),
            description text not null default '' check (length(description) <= 1000),
            version bigint not null default nextval('feature_flag_version_seq'),
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            updated_by text not null check (length(updated_by) between 1 and 200),
            check ((type = 'variant') = (variants is not null))
        )
        """
    )
    op.execute(
        f"""
        create table flag_plan_overrides (
            flag_key text not null references feature_flags (key) on delete cascade,
            plan_code text not null check (plan_code ~ '{_CODE}'),
            value jsonb not null,
            updated_at timestamptz not null default now(),
            updated_by text not null,
            primary key (flag_key, plan_code)
        )
        """
    )
    op.execute(
        """
        create table flag_tenant_overrides (
            flag_key text not null references feature_flags (key) on delete cascade,
            tenant_id uuid not null references tenants (id) on delete cascade,
            value jsonb not null,
            updated_at timestamptz not null default now(),
            updated_by text not null,
            primary key (flag_key, tenant_id)
        )
        """
    )
    op.execute("create index flag_tenant_overrides_tenant on flag_tenant_overrides (tenant_id)")
    op.execute("alter table flag_tenant_overrides enable row level security")
    op.execute("alter table flag_tenant_overrides force row level security")
    op.execute(
        "create policy tenant_read_own on flag_tenant_overrides for select to app_runtime "
        "using (tenant_id = app_current_tenant())"
    )
    op.execute(
        "create policy platform_admin_all on flag_tenant_overrides for all to platform_admin "
        "using (true) with check (true)"
    )
    op.execute("grant select on flag_tenant_overrides to app_runtime")
    op.execute("grant select, insert, update, delete on flag_tenant_overrides to platform_admin")


def _audit() -> None:
    op.execute(
        r"""
        create table flag_audit_log (
            id bigint generated always as identity primary key,
            flag_key text not null,
            action text not null check (action in ('create', 'update', 'delete', 'set', 'unset')),
            scope text not null check (
                scope = 'default'
                or scope ~ '^plan:[a-z][a-z0-9_-]{0,39}$'
                or scope ~ '^tenant:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            ),
            tenant_id uuid,
            old_value jsonb,
            new_value jsonb,
            actor text not null check (length(actor) between 1 and 200),
            reason text not null check (length(reason) between 1 and 1000),
            at timestamptz not null default now()
        )
        """
    )
    op.execute("create index flag_audit_log_flag on flag_audit_log (flag_key, id)")
    op.execute("create index flag_audit_log_tenant on flag_audit_log (tenant_id, id) where tenant_id is not null")
    op.execute(
        """
        create function flag_audit_log_append_only() returns trigger
        language plpgsql
        as $$
        begin
            raise exception 'flag_audit_log is append-only (% rejected)', tg_op
                using errcode = 'insufficient_privilege';
        end
        $$
        """
    )
    op.execute(
        "create trigger flag_audit_log_no_change before update or delete on flag_audit_log "
        "for each row execute function flag_audit_log_append_only()"
    )
    op.execute(
        "create trigger flag_audit_log_no_truncate before truncate on flag_audit_log "
        "for each statement execute function flag_audit_log_append_only()"
    )
    op.execute("alter table flag_audit_log enable row level security")
    op.execute("alter table flag_audit_log force row level security")
    op.execute("create policy platform_admin_read on flag_audit_log for select to platform_admin using (true)")
    op.execute("create policy platform_admin_append on flag_audit_log for insert to platform_admin with check (true)")
    # No grant to app_runtime at all: tenants never see who changed what.
    op.execute("grant select, insert on flag_audit_log to platform_admin")


def _registries() -> None:
    op.execute(
        f"""
        create table model_registry (
            alias text not null check (alias ~ '{_NAME}'),
            version integer not null check (version > 0),
            config jsonb not null,
            created_at timestamptz not null default now(),
            created_by text not null,
            primary key (alias, version)
        )
        """
    )
    for table in ("agent_registry", "tool_registry"):
        op.execute(
            f"""
            create table {table} (
                name text not null check (name ~ '{_NAME}'),
                version integer not null check (version > 0),
                description text not null default '' check (length(description) <= 1000),
                input_schema jsonb not null,
                output_schema jsonb not null,
                created_at timestamptz not null default now(),
                created_by text not null,
                primary key (name, version)
            )
            """
        )


def upgrade() -> None:
    _flags()
    _audit()
    _registries()
    for table in CATALOGUE_TABLES:
        enable_catalogue_rls(table)


def downgrade() -> None:
    for table in ("tool_registry", "agent_registry", "model_registry", "flag_audit_log"):
        op.execute(f"drop table if exists {table}")
    op.execute("drop function if exists flag_audit_log_append_only()")
    for table in ("flag_tenant_overrides", "flag_plan_overrides", "feature_flags"):
        op.execute(f"drop table if exists {table}")
    op.execute("drop sequence if exists feature_flag_version_seq")
