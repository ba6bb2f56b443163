"""Billing: plan catalogue, subscriptions, usage ledger and counters, credits, invoices, quota alerts.

Revision ID: 0003_billing
Revises: 0002
Create Date: 2026-11-27

Money is never a float: amounts are bigint minor units (cents), prices numeric(20, 10) minor units
per 1,000 tokens. The catalogue (plans, plan_prices, model_tiers) is platform-wide: app_runtime may
only read it. Every other table is a tenant table under the same two RLS policies as 0001.

Seeded plans:

    code        base fee  included tokens  included requests  overage  hard limit (tokens)
    free        $0        100,000          1,000              block    -
    pro         $20       2,000,000        -                  bill     20,000,000
    enterprise  $500      50,000,000       -                  bill     -

Prices in cents per 1k tokens, input / output:

    tier        free and pro     enterprise
    small       0.015 / 0.06     0.012 / 0.048
    standard    0.05  / 0.15     0.04  / 0.12
    large       0.25  / 1.00     0.20  / 0.80
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_billing"
down_revision = "0002"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "subscriptions",
    "usage_ledger",
    "usage_counters",
    "credit_ledger",
    "invoices",
    "invoice_lines",
    "alert_endpoints",
    "alert_deliveries",
)
CATALOGUE_TABLES = ("plans", "plan_prices", "model_tiers")

_PLANS = [
    # code, name, base_fee_minor, included_tokens, included_requests, policy, hard_limit, soft pcts
    ("free", "Free", 0, 100_000, 1_000, "block", None, [80, 100]),
    ("pro", "Pro", 2_000, 2_000_000, None, "bill", 20_000_000, [80, 100]),
    ("enterprise", "Enterprise", 50_000, 50_000_000, None, "bill", None, [50, 80, 100]),
]
_PRICES = {
    "free": {"small": ("0.015", "0.06"), "standard": ("0.05", "0.15"), "large": ("0.25", "1.0")},
    "pro": {"small": ("0.015", "0.06"), "standard": ("0.05", "0.15"), "large": ("0.25", "1.0")},
    "enterprise": {"small": ("0.012", "0.048"), "standard": ("0.04", "0.12"), "large": ("0.2", "0.8")},
}
_TIERS = {"gpt-4o-mini": "small", "gpt-4o": "large", "claude-sonnet": "large"}


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


def enable_catalogue_rls(table: str) -> None:
    """Platform-wide tables no tenant owns: every tenant may read them, only platform_admin writes.

    RLS is on and forced here too, so "every table is under RLS" stays a rule without exceptions.
    """
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(f"create policy catalogue_read on {table} for select to app_runtime using (true)")
    op.execute(f"create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)")
    op.execute(f"grant select on {table} to app_runtime")
    op.execute(f"grant select, insert, update, delete on {table} to platform_admin")


def _catalogue() -> None:
    op.execute(
        """
        create table plans (
            code text primary key check (code ~ '^[a-z][a-z0-9_-]{0,39}$'),
            name text not null check (length(name) between 1 and 200),
            currency text not null default 'usd' check (currency ~ '^[a-z]{3}$'),
            base_fee_minor bigint not null default 0 check (base_fee_minor >= 0),
            included_tokens bigint not null check (included_tokens >= 0),
            included_requests bigint check (included_requests >= 0),
            overage_policy text not null check (overage_policy in ('block', 'bill')),
            hard_limit_tokens bigint check (hard_limit_tokens >= 0),
            soft_limit_pcts integer[] not null default '{80,100}'
                check (0 < all (soft_limit_pcts) and 1000 >= all (soft_limit_pcts)),
            active boolean not null default true,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute(
        """
        create table plan_prices (
            plan_code text not null references plans (code) on delete cascade,
            tier text not null check (tier ~ '^[a-z][a-z0-9_-]{0,39}$'),
            input_per_1k numeric(20, 10) not null check (input_per_1k >= 0),
            output_per_1k numeric(20, 10) not null check (output_per_1k >= 0),
            primary key (plan_code, tier)
        )
        """
    )
    op.execute(
        """
        create table model_tiers (
            model_alias text primary key,
            tier text not null check (tier ~ '^[a-z][a-z0-9_-]{0,39}$')
        )
        """
    )
    bind = op.get_bind()
    for code, name, fee, tokens, requests, policy, hard, pcts in _PLANS:
        bind.execute(
            sa.text(
                "insert into plans (code, name, base_fee_minor, included_tokens, included_requests, overage_policy,"
                " hard_limit_tokens, soft_limit_pcts) values (:code, :name, :fee, :tokens, :requests, :policy,"
                " :hard, :pcts)"
            ),
            {
                "code": code,
                "name": name,
                "fee": fee,
                "tokens": tokens,
                "requests": requests,
                "policy": policy,
                "hard": hard,
                "pcts": pcts,
            },
        )
        for tier, (price_in, price_out) in _PRICES[code].items():
            bind.execute(
                sa.text(
                    "insert into plan_prices (plan_code, tier, input_per_1k, output_per_1k)"
                    " values (:code, :tier, cast(:pin as numeric), cast(:pout as numeric))"
                ),
                {"code": code, "tier": tier, "pin": price_in, "pout": price_out},
            )
    for alias, tier in _TIERS.items():
        bind.execute(
            sa.text("insert into model_tiers (model_alias, tier) values (:alias, :tier)"),
            {"alias": alias, "tier": tier},
        )
    for table in CATALOGUE_TABLES:
        enable_catalogue_rls(table)


def _metering() -> None:
    op.execute(
        """
        create table subscriptions (
            tenant_id uuid primary key references tenants (id),
            plan_code text not null references plans (code),
            status text not null default 'active' check (status in ('active', 'past_due', 'canceled')),
            current_period_start timestamptz not null,
            current_period_end timestamptz not null check (current_period_end > current_period_start),
            -- When the current plan took effect in the open period (base-fee proration), and the
            -- base fee already accrued by earlier plans of the same period.
            plan_since timestamptz not null,
            prior_base_fee_minor bigint not null default 0 check (prior_base_fee_minor >= 0),
            -- Overage charge metered so far in the open period (minor units, unrounded): credit debits
            -- follow its whole-cent steps, so fractions of a cent are never lost or rounded per event.
            period_charge numeric(30, 10) not null default 0 check (period_charge >= 0),
            stripe_customer_id text,
            stripe_subscription_id text,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index subscriptions_period_end on subscriptions (current_period_end)")
    # No foreign key to tenants on the two hot tables: the check would cost a lookup per metered event.
    op.execute(
        """
        create table usage_ledger (
            -- The usage event's id is the key: a redelivered event conflicts and adds nothing.
            event_id uuid primary key,
            tenant_id uuid not null,
            period_start timestamptz not null,
            model_alias text not null,
            tier text not null,
            tokens_in bigint not null check (tokens_in >= 0),
            tokens_out bigint not null check (tokens_out >= 0),
            requests integer not null default 1 check (requests >= 0),
            -- Tokens of this event covered by the plan's included allowance (input first, then output).
            included_in bigint not null default 0 check (included_in between 0 and tokens_in),
            included_out bigint not null default 0 check (included_out between 0 and tokens_out),
            price_in_per_1k numeric(20, 10) not null,
            price_out_per_1k numeric(20, 10) not null,
            charge numeric(30, 10) not null default 0 check (charge >= 0),
            occurred_at timestamptz not null,
            created_at timestamptz not null default clock_timestamp()
        )
        """
    )
    op.execute("create index usage_ledger_tenant_period on usage_ledger (tenant_id, period_start)")
    op.execute(
        """
        create table usage_counters (
            tenant_id uuid not null,
            period_start timestamptz not null,
            model_alias text not null,
            meter text not null check (meter in ('tokens_in', 'tokens_out', 'requests')),
            quantity bigint not null default 0 check (quantity >= 0),
            primary key (tenant_id, period_start, model_alias, meter)
        )
        """
    )
    op.execute(
        """
        create table credit_ledger (
            id bigint generated always as identity primary key,
            tenant_id uuid not null references tenants (id),
            amount_minor bigint not null check (amount_minor <> 0),
            -- Running balance after this entry (= sum of amounts up to it); writers hold the
            -- subscription row lock, so the newest row's value is the balance without a sum.
            balance_after_minor bigint not null check (balance_after_minor >= 0),
            reason text not null check (reason in ('top_up', 'usage', 'invoice')),
            idempotency_key text not null check (length(idempotency_key) between 1 and 300),
            period_start timestamptz,
            created_at timestamptz not null default now(),
            unique (tenant_id, idempotency_key)
        )
        """
    )
    op.execute("create index credit_ledger_tenant_id on credit_ledger (tenant_id, id desc)")


def _invoices() -> None:
    op.execute(
        """
        create table invoices (
            id uuid primary key default gen_random_uuid(),
            tenant_id uuid not null references tenants (id),
            plan_code text not null,
            period_start timestamptz not null,
            period_end timestamptz not null,
            currency text not null,
            subtotal_minor bigint not null check (subtotal_minor >= 0),
            credits_applied_minor bigint not null check (credits_applied_minor >= 0),
            tax_rate numeric(9, 6) not null check (tax_rate >= 0),
            tax_minor bigint not null check (tax_minor >= 0),
            total_minor bigint not null check (total_minor >= 0),
            status text not null default 'finalized' check (status = 'finalized'),
            payment_status text not null default 'open' check (payment_status in ('open', 'paid', 'failed', 'void')),
            finalized_at timestamptz not null default now(),
            unique (tenant_id, period_start)
        )
        """
    )
    op.execute(
        """
        create table invoice_lines (
            invoice_id uuid not null references invoices (id),
            position integer not null,
            tenant_id uuid not null,
            kind text not null check (kind in ('base_fee', 'usage')),
            description text not null,
            tier text,
            meter text check (meter in ('tokens_in', 'tokens_out')),
            quantity bigint not null,
            included_units bigint not null default 0,
            overage_units bigint not null default 0,
            unit_amount numeric(20, 10) not null,
            amount_minor bigint not null,
            primary key (invoice_id, position)
        )
        """
    )
    # A finalized invoice is a legal document: its amounts never change and it is never deleted.
    # Only payment_status (and columns other services add later) may be updated.
    op.execute(
        """
        create function billing_invoice_immutable() returns trigger language plpgsql as $$
        begin
            if tg_op = 'DELETE' then
                raise exception 'finalized invoices cannot be deleted' using errcode = 'check_violation';
            end if;
            if (new.id, new.tenant_id, new.plan_code, new.period_start, new.period_end, new.currency,
                new.subtotal_minor, new.credits_applied_minor, new.tax_rate, new.tax_minor, new.total_minor,
                new.status, new.finalized_at)
               is distinct from
               (old.id, old.tenant_id, old.plan_code, old.period_start, old.period_end, old.currency,
                old.subtotal_minor, old.credits_applied_minor, old.tax_rate, old.tax_minor, old.total_minor,
                old.status, old.finalized_at) then
                raise exception 'invoice % is finalized: its amounts are immutable', old.id
                    using errcode = 'check_violation';
            end if;
            return new;
        end
        $$
        """
    )
    op.execute(
        """
        create function billing_invoice_line_immutable() returns trigger language plpgsql as $$
        begin
            raise exception 'invoice lines are immutable' using errcode = 'check_violation';
        end
        $$
        """
    )
    op.execute(
        "create trigger invoices_immutable before update or delete on invoices "
        "for each row execute function billing_invoice_immutable()"
    )
    op.execute(
        "create trigger invoice_lines_immutable before update or delete on invoice_lines "
        "for each row execute function billing_invoice_line_immutable()"
    )


def _alerts() -> None:
    op.execute(
        """
        create table alert_endpoints (
            tenant_id uuid primary key references tenants (id),
            url text not null check (url ~ '^https?://' and length(url) <= 2048),
            secret text not null,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute(
        """
        create table alert_deliveries (
            id bigint generated always as identity primary key,
            tenant_id uuid not null references tenants (id),
            threshold_pct integer not null,
            period_start timestamptz not null,
            payload jsonb not null,
            status text not null default 'pending'
                check (status in ('pending', 'delivered', 'failed', 'no_endpoint')),
            attempts integer not null default 0,
            next_attempt_at timestamptz not null default now(),
            delivered_at timestamptz,
            last_error text,
            created_at timestamptz not null default now(),
            unique (tenant_id, period_start, threshold_pct)
        )
        """
    )
    op.execute("create index alert_deliveries_due on alert_deliveries (next_attempt_at) where status = 'pending'")


def upgrade() -> None:
    _catalogue()
    _metering()
    _invoices()
    _alerts()
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"drop table if exists {table} cascade")
    op.execute("drop function if exists billing_invoice_immutable()")
    op.execute("drop function if exists billing_invoice_line_immutable()")
    for table in reversed(CATALOGUE_TABLES):
        op.execute(f"drop table if exists {table} cascade")
