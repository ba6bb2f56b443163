"""The router's tenant tables: policies, decisions, rewards and the bandit's arms.

- `router_policies`: one row per tenant that changed the platform default (`GET/PUT /v1/router/policy`): tiers
  (ordered cheapest first, each `{name, alias, price_usd_per_1k}`), lambda, max_cost_usd, exploration cap,
  early-exit bar, pinned tier, canary share.
- `router_decisions`: one row per decision, projected from `router.decision.made` events by the router's consumer
  (idempotent by `id` = the decision id). `allowed` are the tiers the decision could pick; `stronger_allowed` says
  whether a stronger allowed tier existed (a failure then counts as a misroute). `request_hash` (the messages) and
  `conversation_key` find a retry of the same request on a stronger tier; `context_key` is the bandit context.
- `router_rewards`: quality signals joined to decisions by `decision_id`, unique on (tenant, decision, signal): a
  redelivered usage event or a re-posted feedback changes nothing. `applied` says the bandit counted it (a signal
  may arrive before its decision is projected; it is applied when the decision lands).
- `router_bandit_arms`: the Beta posterior's observed counts per (tenant, context, tier); the prior comes from the
  classifier at decision time. State survives restarts because it lives here.

All four are tenant tables: ENABLE + FORCE RLS, `tenant_isolation` for app_runtime, `platform_admin_all` for
platform_admin (the canary monitor reads decisions and rewards across tenants).

Revision ID: 0020_router
Revises: 0019_model_registry_status
Create Date: 2026-12-06
"""

from alembic import op

revision = "0020_router"
down_revision = "0019_model_registry_status"
branch_labels = None
depends_on = None

_TIER = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_REASONS = "'early_exit', 'classifier', 'bandit', 'explore', 'fallback', 'pinned'"
_TABLES = ("router_policies", "router_decisions", "router_rewards", "router_bandit_arms")


def upgrade() -> None:
    op.execute(
        f"""
        create table router_policies (
            tenant_id uuid primary key references tenants (id) on delete cascade,
            tiers jsonb not null check (jsonb_typeof(tiers) = 'array'),
            lambda double precision not null check (lambda >= 0),
            max_cost_usd double precision check (max_cost_usd >= 0),
            exploration_cap double precision not null check (exploration_cap >= 0 and exploration_cap <= 1),
            early_exit_bar double precision not null check (early_exit_bar >= 0 and early_exit_bar <= 1),
            pinned_tier text check (pinned_tier ~ '{_TIER}'),
            canary_share double precision check (canary_share >= 0 and canary_share <= 1),
            updated_at timestamptz not null
        )
        """
    )
    op.execute(
        f"""
        create table router_decisions (
            id uuid primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            created_at timestamptz not null,
            router_version text not null,
            canary boolean not null default false,
            tier text not null check (tier ~ '{_TIER}'),
            model text not null,
            reason text not null check (reason in ({_REASONS})),
            allowed text[] not null,
            stronger_allowed boolean not null,
            p_success jsonb not null default '{{}}'::jsonb,
            expected_cost_usd double precision not null check (expected_cost_usd >= 0),
            latency_ms double precision not null check (latency_ms >= 0),
            context_key text not null,
            conversation_key text not null,
            request_hash text not null
        )
        """
    )
    op.execute("create index router_decisions_tenant_created on router_decisions (tenant_id, created_at)")
    op.execute("create index router_decisions_request on router_decisions (tenant_id, request_hash, created_at)")
    op.execute("create index router_decisions_version_created on router_decisions (router_version, created_at)")
    op.execute(
        """
        create table router_rewards (
            tenant_id uuid not null references tenants (id) on delete cascade,
            decision_id uuid not null,
            signal_id text not null check (length(signal_id) between 1 and 200),
            outcome text not null check (outcome in ('success', 'failure')),
            score double precision check (score >= 0 and score <= 1),
            source text not null check (source in ('feedback', 'usage', 'retry')),
            created_at timestamptz not null,
            applied boolean not null default false,
            primary key (tenant_id, decision_id, signal_id)
        )
        """
    )
    op.execute("create index router_rewards_created on router_rewards (created_at)")
    op.execute(
        f"""
        create table router_bandit_arms (
            tenant_id uuid not null references tenants (id) on delete cascade,
            context_key text not null,
            tier text not null check (tier ~ '{_TIER}'),
            successes double precision not null default 0 check (successes >= 0),
            failures double precision not null default 0 check (failures >= 0),
            updated_at timestamptz not null,
            primary key (tenant_id, context_key, tier)
        )
        """
    )
    for table in _TABLES:
        op.execute(f"alter table {table} enable row level security")
        op.execute(f"alter table {table} force row level security")
        op.execute(
            f"create policy tenant_isolation on {table} for all to app_runtime "
            "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
        )
        op.execute(
            f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)"
        )
        op.execute(f"grant select, insert, update, delete on {table} to app_runtime, platform_admin")


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f"drop table if exists {table}")
