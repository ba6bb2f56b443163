"""Usage rows carry the cache's answer and the router's decision; billing prices cache hits per plan.

* `requests` (the gateway's usage rows): `cache_status` (exact|semantic|miss|bypass, null on rows from before
  the cache), `router_decision_id`, `router_tier`, `router_reason`, `requested_alias` (set when the request named
  the auto alias: `model_alias` is the alias that served it).
* `plans.cache_hit_fee_minor`: what one cache hit (exact or semantic) costs on the plan, decimal minor units
  (cents) of the plan currency; seeded free 0, pro 0.02, enterprise 0.01 cents. A hit reached no provider:
  it uses none of the included tokens and is never billed as tokens.
* `usage_ledger`: `cache_status`, `cached_tokens` (the tokens of the cached answer a hit served: provider
  tokens saved) and `cache_hit_fee_minor` (the fee it was metered at); a hit's row has tokens 0.
* `usage_counters` gain the meters `cache_hits_exact`, `cache_hits_semantic`, `cached_tokens`;
  `invoice_lines` the kind `cache_hits` with meters `cache_hits_exact` / `cache_hits_semantic`.
* Analytics: `analytics_usage_rollups.cache_semantic_hits` and `.cache_tokens_saved`; a new tenant table
  `analytics_router_tiers` (requests per granularity, bucket, model, key, tier and reason) under FORCE RLS.

Revision ID: 0023_usage_cache_router
Revises: 0019_model_registry_status
Create Date: 2026-12-06
"""

from alembic import op

revision = "0023_usage_cache_router"
down_revision = "0019_model_registry_status"
branch_labels = None
depends_on = None

_CACHE_STATUS = "('exact', 'semantic', 'miss', 'bypass')"
_FEES = {"free": "0", "pro": "0.02", "enterprise": "0.01"}
_METERS_BEFORE = "('tokens_in', 'tokens_out', 'requests')"
_METERS_AFTER = "('tokens_in', 'tokens_out', 'requests', 'cache_hits_exact', 'cache_hits_semantic', 'cached_tokens')"
_LINE_KINDS_BEFORE = "('base_fee', 'usage')"
_LINE_KINDS_AFTER = "('base_fee', 'usage', 'cache_hits')"
_LINE_METERS_BEFORE = "('tokens_in', 'tokens_out')"
_LINE_METERS_AFTER = "('tokens_in', 'tokens_out', 'cache_hits_exact', 'cache_hits_semantic')"


def _replace_check(table: str, name: str, column: str, values: str) -> None:
    op.execute(f"alter table {table} drop constraint {name}")
    op.execute(f"alter table {table} add constraint {name} check ({column} in {values})")


def _gateway() -> None:
    op.execute(f"alter table requests add column cache_status text check (cache_status in {_CACHE_STATUS})")
    # The event schema validates the router's fields; no check here could stop the writer on a new reason.
    for column in ("router_decision_id", "router_tier", "router_reason", "requested_alias"):
        op.execute(f"alter table requests add column {column} text")


def _billing() -> None:
    op.execute(
        "alter table plans add column cache_hit_fee_minor numeric(20, 10) not null default 0"
        " check (cache_hit_fee_minor >= 0)"
    )
    # plans forces row level security and no policy names the owner: lift it for these statements only (inside
    # the migration's transaction, as 0011 does), or the updates would see no rows.
    op.execute("alter table plans no force row level security")
    for code, fee in _FEES.items():
        op.execute(f"update plans set cache_hit_fee_minor = {fee} where code = '{code}'")  # noqa: S608  # nosec B608
    op.execute("alter table plans force row level security")
    op.execute(f"alter table usage_ledger add column cache_status text check (cache_status in {_CACHE_STATUS})")
    op.execute("alter table usage_ledger add column cached_tokens bigint not null default 0 check (cached_tokens >= 0)")
    op.execute(
        "alter table usage_ledger add column cache_hit_fee_minor numeric(20, 10) not null default 0"
        " check (cache_hit_fee_minor >= 0)"
    )
    _replace_check("usage_counters", "usage_counters_meter_check", "meter", _METERS_AFTER)
    _replace_check("invoice_lines", "invoice_lines_kind_check", "kind", _LINE_KINDS_AFTER)
    _replace_check("invoice_lines", "invoice_lines_meter_check", "meter", _LINE_METERS_AFTER)


def _analytics() -> None:
    op.execute(
        "alter table analytics_usage_rollups add column cache_semantic_hits bigint not null default 0"
        " check (cache_semantic_hits >= 0)"
    )
    op.execute(
        "alter table analytics_usage_rollups add column cache_tokens_saved bigint not null default 0"
        " check (cache_tokens_saved >= 0)"
    )
    op.execute(
        """
        create table analytics_router_tiers (
            tenant_id uuid not null,
            granularity text not null check (granularity in ('minute', 'hour', 'day')),
            bucket timestamptz not null,
            model_alias text not null,
            api_key_id uuid not null,
            tier text not null,
            reason text not null,
            requests bigint not null default 0 check (requests >= 0),
            updated_at timestamptz not null default now(),
            primary key (tenant_id, granularity, bucket, model_alias, api_key_id, tier, reason)
        )
        """
    )
    op.execute("alter table analytics_router_tiers enable row level security")
    op.execute("alter table analytics_router_tiers force row level security")
    op.execute(
        "create policy tenant_isolation on analytics_router_tiers for all to app_runtime "
        "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
    )
    op.execute(
        "create policy platform_admin_all on analytics_router_tiers for all to platform_admin"
        " using (true) with check (true)"
    )
    op.execute("grant select, insert, update, delete on analytics_router_tiers to app_runtime, platform_admin")
    # The rebuild empties the read models in one statement (as 0004).
    op.execute("grant truncate on analytics_router_tiers to platform_admin")


def upgrade() -> None:
    _gateway()
    _billing()
    _analytics()


def downgrade() -> None:
    op.execute("drop table if exists analytics_router_tiers")
    op.execute("alter table analytics_usage_rollups drop column cache_tokens_saved")
    op.execute("alter table analytics_usage_rollups drop column cache_semantic_hits")
    # Rows of the new kinds and meters go first: the narrower checks would refuse them (invoice lines are
    # immutable, so a database that invoiced cache hits cannot go back below this revision).
    op.execute("alter table usage_counters no force row level security")  # the owner has no policy (as above)
    op.execute("delete from usage_counters where meter in ('cache_hits_exact', 'cache_hits_semantic', 'cached_tokens')")
    op.execute("alter table usage_counters force row level security")
    _replace_check("invoice_lines", "invoice_lines_meter_check", "meter", _LINE_METERS_BEFORE)
    _replace_check("invoice_lines", "invoice_lines_kind_check", "kind", _LINE_KINDS_BEFORE)
    _replace_check("usage_counters", "usage_counters_meter_check", "meter", _METERS_BEFORE)
    for column in ("cache_hit_fee_minor", "cached_tokens", "cache_status"):
        op.execute(f"alter table usage_ledger drop column {column}")
    op.execute("alter table plans drop column cache_hit_fee_minor")
    for column in ("requested_alias", "router_reason", "router_tier", "router_decision_id", "cache_status"):
        op.execute(f"alter table requests drop column {column}")
