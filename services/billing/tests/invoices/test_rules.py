"""The invoice rule: base fee lines, usage lines rounded per line, tax and credits applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.invoices.rules import UsageGroup, base_fee_lines, totals, usage_lines
from billing.invoices.schemas import DraftLine
from billing.plans.catalogue import Plan
from billing.subscriptions.schemas import Subscription

minor = st.integers(min_value=0, max_value=10**9)
rates = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)


def _line(amount: int) -> DraftLine:
    return DraftLine("usage", "x", "standard", "tokens_in", 0, 0, 0, Decimal(0), amount)


def test_base_fee_lines_show_earlier_plans_apart():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sub = Subscription(
        uuid.uuid4(), "pro", "active", start, datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC),
        333, None, None,
    )  # fmt: skip
    plan = Plan("pro", "Pro", "usd", 2000, 0, None, "bill", None, (), True, {})
    lines = base_fee_lines(sub, plan)
    assert [(line.description, line.amount_minor) for line in lines] == [
        ("Base fee of earlier plans this period", 333),
        ("Plan 'Pro' base fee (20/30 days)", 1333),
    ]


def test_usage_lines_merge_equal_prices_and_round_per_line():
    groups = [
        UsageGroup("standard", Decimal("1.50"), Decimal("6"), 1000, 400, 0, 0),
        UsageGroup("standard", Decimal("1.5"), Decimal("6.0"), 500, 0, 100, 0),
    ]
    lines = usage_lines(groups)
    assert [(line.meter, line.quantity, line.included_units, line.overage_units) for line in lines] == [
        ("tokens_in", 1500, 400, 1100),
        ("tokens_out", 100, 0, 100),
    ]
    assert [line.amount_minor for line in lines] == [2, 1]  # 1.65 -> 2, 0.6 -> 1


def test_credits_pay_first():
    amounts = totals([_line(1000), _line(500)], Decimal("0.1"), usage_debits_minor=200, balance_minor=100)
    assert (amounts.subtotal_minor, amounts.tax_minor, amounts.credits_applied_minor) == (1500, 150, 300)
    assert amounts.total_minor == 1350


@given(st.lists(minor, max_size=10), rates, minor, minor)
def test_totals_never_apply_more_credit_than_owed_or_held(amounts, rate, debits, balance):
    result = totals([_line(amount) for amount in amounts], rate, debits, balance)
    assert result.subtotal_minor == sum(amounts)
    assert abs(Decimal(result.tax_minor) - Decimal(result.subtotal_minor) * rate) <= Decimal("0.5")
    assert result.credits_applied_minor == min(result.subtotal_minor + result.tax_minor, debits + balance)
    assert result.total_minor == result.subtotal_minor + result.tax_minor - result.credits_applied_minor >= 0


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["standard", "premium"]),
            st.integers(min_value=0, max_value=10**6),
            st.integers(min_value=0, max_value=10**6),
        ),
        max_size=8,
    )
)
def test_usage_lines_keep_every_token(rows):
    groups = [
        UsageGroup(tier, Decimal("2"), Decimal("4"), tokens, tokens // 3, tokens_out, 0)
        for tier, tokens, tokens_out in rows
    ]
    lines = usage_lines(groups)
    assert sum(line.quantity for line in lines) == sum(g.tokens_in + g.tokens_out for g in groups)
    assert all(line.overage_units == line.quantity - line.included_units >= 0 for line in lines)
