"""Router versions: the router's model artifacts, which one is stable and which one is on canary.

`router_versions` is a platform catalogue (as `model_registry`): every tenant's router process may read it
(app_runtime, `catalogue_read`), only platform_admin writes (the router admin listener). A row holds the
artifact itself (`artifact`, the bytes `router.model.load_artifact` reads; `sha256` of those bytes), the
data hash and eval report the artifact declares, and its lifecycle:

    registered -> canary (share of conversations) -> stable (promoted; the previous stable is retired)
                        \\-> rolled_back (by the canary monitor or an admin)

At most one row is `stable` and at most one is `canary` (partial unique indexes), so two admins or a monitor
racing an admin cannot leave two of either. `share` is the canary's share of conversations (0 < share <= 1
while canary, 0 otherwise). `status_detail` keeps the numbers behind the last automatic change.

`router_version_transitions` is the append-only history of every status change: who (an admin key's name,
or `canary-monitor`), why, and the numbers; invisible to app_runtime.

Revision ID: 0021_router_versions
Revises: 0020_router
Create Date: 2026-12-06
"""

from alembic import op

revision = "0021_router_versions"
down_revision = "0020_router"
branch_labels = None
depends_on = None

_ID = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
_STATUSES = "'registered', 'canary', 'stable', 'rolled_back', 'retired'"


def upgrade() -> None:
    op.execute(
        f"""
        create table router_versions (
            id text primary key check (id ~ '{_ID}'),
            sha256 text not null unique check (sha256 ~ '^[0-9a-f]{{64}}$'),
            data_hash text not null default '' check (length(data_hash) <= 200),
            eval_report jsonb not null default '{{}}'::jsonb check (jsonb_typeof(eval_report) = 'object'),
            artifact bytea not null,
            tiers text[] not null default '{{}}',
            status text not null default 'registered' check (status in ({_STATUSES})),
            share double precision not null default 0 check (share >= 0 and share <= 1),
            status_reason text not null default '' check (length(status_reason) <= 500),
            status_detail jsonb not null default '{{}}'::jsonb,
            created_at timestamptz not null,
            created_by text not null check (length(created_by) between 1 and 200),
            status_changed_at timestamptz not null,
            status_changed_by text not null check (length(status_changed_by) between 1 and 200),
            activated_at timestamptz,
            check ((status = 'canary') = (share > 0)),
            check (status not in ('canary', 'stable') or activated_at is not null)
        )
        """
    )
    op.execute("create unique index router_versions_one_stable on router_versions ((true)) where status = 'stable'")
    op.execute("create unique index router_versions_one_canary on router_versions ((true)) where status = 'canary'")
    op.execute(
        f"""
        create table router_version_transitions (
            id bigint generated always as identity primary key,
            version_id text not null references router_versions (id),
            from_status text check (from_status in ({_STATUSES})),
            to_status text not null check (to_status in ({_STATUSES})),
            share double precision not null check (share >= 0 and share <= 1),
            actor text not null check (length(actor) between 1 and 200),
            reason text not null default '' check (length(reason) <= 500),
            detail jsonb not null default '{{}}'::jsonb,
            at timestamptz not null
        )
        """
    )
    op.execute("create index router_version_transitions_version on router_version_transitions (version_id, id)")

    for table in ("router_versions", "router_version_transitions"):
        op.execute(f"alter table {table} enable row level security")
        op.execute(f"alter table {table} force row level security")
        op.execute(
            f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)"
        )
    # The router process (app_runtime) reads which versions serve and loads their artifacts; it never writes.
    op.execute("create policy catalogue_read on router_versions for select to app_runtime using (true)")
    op.execute("grant select on router_versions to app_runtime")
    op.execute("grant select, insert, update on router_versions to platform_admin")
    # History: appended by platform_admin only, never edited.
    op.execute("grant select, insert on router_version_transitions to platform_admin")


def downgrade() -> None:
    op.execute("drop table if exists router_version_transitions")
    op.execute("drop table if exists router_versions")
