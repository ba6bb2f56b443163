"""Realtime chat: conversations and their ordered event log, both tenant tables under RLS.

`rt_events` holds every server event of a conversation with its per-conversation `seq`
(unique per conversation), so a reconnecting client can resume after the last seq it saw.

Revision ID: 0007_realtime
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0007_realtime"
down_revision = "0002"
branch_labels = None
depends_on = None

TENANT_TABLES = {"rt_conversations": "tenant_id", "rt_events": "tenant_id"}


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


def upgrade() -> None:
    op.execute(
        """
        create table rt_conversations (
            id uuid primary key,
            tenant_id uuid not null references tenants (id),
            created_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index rt_conversations_tenant on rt_conversations (tenant_id, created_at)")
    op.execute(
        """
        create table rt_events (
            conversation_id uuid not null references rt_conversations (id) on delete cascade,
            seq bigint not null check (seq > 0),
            tenant_id uuid not null references tenants (id),
            type text not null check (length(type) between 1 and 64),
            payload jsonb not null,
            created_at timestamptz not null default now(),
            unique (conversation_id, seq)
        )
        """
    )
    for table, column in TENANT_TABLES.items():
        enable_tenant_rls(table, column)


def downgrade() -> None:
    op.execute("drop table if exists rt_events")
    op.execute("drop table if exists rt_conversations")
