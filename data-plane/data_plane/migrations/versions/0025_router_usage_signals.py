"""Router: usage events teach the bandit cost and latency, not only errors (issue 14, "updated online from usage
events (cost, errors, latency)").

- `router_rewards`: a routed request's observed cost is a signal of its own (`outcome = 'cost'`, `source = 'cost'`,
  signal id `cost:<request_id>`) holding `cost_usd`, the US dollars the gateway metered; a request slower than the
  tenant's latency SLO is a failure of its decision (`source = 'latency'`, signal id `latency:<request_id>`).
  `cost_usd` is set exactly on cost signals.
- `router_bandit_arms`: per (tenant, context, tier) the sum of observed / expected cost ratios and how many there
  were (`cost_ratio_sum`, `cost_observations`); the decision scales a tier's estimated cost by
  (K + cost_ratio_sum) / (K + cost_observations).
- `router_policies.latency_slo_ms`: a tenant's latency objective (null = none).

The tables keep their ENABLE + FORCE RLS and policies (columns and checks change, not the tables). Downgrade
deletes the signals the old checks cannot hold (cost and latency rows) and restores the old columns and checks.

Revision ID: 0025_router_usage_signals
Revises: 0021_router_versions
Create Date: 2026-12-06
"""

from alembic import op

revision = "0025_router_usage_signals"
down_revision = "0021_router_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table router_rewards drop constraint router_rewards_outcome_check")
    op.execute("alter table router_rewards drop constraint router_rewards_source_check")
    op.execute(
        "alter table router_rewards add constraint router_rewards_outcome_check "
        "check (outcome in ('success', 'failure', 'cost'))"
    )
    op.execute(
        "alter table router_rewards add constraint router_rewards_source_check "
        "check (source in ('feedback', 'usage', 'retry', 'latency', 'cost'))"
    )
    op.execute(
        "alter table router_rewards add column cost_usd double precision "
        "constraint router_rewards_cost_usd_check check (cost_usd >= 0)"
    )
    op.execute(
        "alter table router_rewards add constraint router_rewards_cost_signal_check "
        "check ((outcome = 'cost') = (cost_usd is not null))"
    )
    op.execute(
        "alter table router_bandit_arms "
        "add column cost_ratio_sum double precision not null default 0 "
        "constraint router_bandit_arms_cost_ratio_sum_check check (cost_ratio_sum >= 0), "
        "add column cost_observations double precision not null default 0 "
        "constraint router_bandit_arms_cost_observations_check check (cost_observations >= 0)"
    )
    op.execute(
        "alter table router_policies add column latency_slo_ms integer "
        "constraint router_policies_latency_slo_ms_check check (latency_slo_ms > 0)"
    )


def downgrade() -> None:
    op.execute("alter table router_policies drop column latency_slo_ms")
    op.execute("alter table router_bandit_arms drop column cost_observations, drop column cost_ratio_sum")
    # router_rewards forces row level security and no policy names the owner: lift it for this statement only
    # (inside the migration's transaction, so no other session ever sees the table without it).
    op.execute("alter table router_rewards no force row level security")
    op.execute("delete from router_rewards where outcome = 'cost' or source in ('latency', 'cost')")
    op.execute("alter table router_rewards force row level security")
    op.execute("alter table router_rewards drop constraint router_rewards_cost_signal_check")
    op.execute("alter table router_rewards drop column cost_usd")
    op.execute("alter table router_rewards drop constraint router_rewards_source_check")
    op.execute("alter table router_rewards drop constraint router_rewards_outcome_check")
    op.execute(
        "alter table router_rewards add constraint router_rewards_outcome_check "
        "check (outcome in ('success', 'failure'))"
    )
    op.execute(
        "alter table router_rewards add constraint router_rewards_source_check "
        "check (source in ('feedback', 'usage', 'retry'))"
    )
