"""The metering rule: allowance (input first), overage charge, whole-unit debits, soft-limit crossings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.metering.rules import MeterStart, debit_minor, included_split, meter_usages, overage_charge
from billing.metering.schemas import Usage
from billing.plans.catalogue import Catalogue, Plan, TierPrice

_NOW = datetime(2026, 11, 5, tzinfo=UTC)
_PRICES = {"standard": TierPrice(Decimal("1.5"), Decimal("6")), "premium": TierPrice(Decimal("30"), Decimal("60"))}
_CATALOGUE = Catalogue(plans={}, tiers={"big": "premium"})

token_counts = st.integers(min_value=0, max_value=50_000)
prices = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
usages = st.lists(
    st.builds(
        lambda alias, tin, tout: Usage(uuid.uuid4(), alias, tin, tout, _NOW, {}),
        st.sampled_from(["small", "big"]),
        token_counts,
        token_counts,
    ),
    max_size=12,
)


def _plan(included: int = 1000, pcts: tuple[int, ...] = (50, 80, 100)) -> Plan:
    return Plan("pro", "Pro", "usd", 0, included, None, "bill", None, pcts, True, _PRICES)


def test_allowance_then_tier_price():
    plan = _plan(included=1000)
    first = Usage(uuid.uuid4(), "small", 600, 300, _NOW, {})
    second = Usage(uuid.uuid4(), "big", 200, 1000, _NOW, {})
    out = meter_usages(plan, _CATALOGUE, MeterStart(0, Decimal(0), 10), [first, second])
    a, b = out.lines
    assert (a.included_in, a.included_out, a.charge_minor) == (600, 300, 0)
    # 100 tokens of allowance left, all on input; premium prices: 100 x 30/1k + 1000 x 60/1k.
    assert (b.tier, b.included_in, b.included_out, b.charge_minor) == ("premium", 100, 0, Decimal("63"))
    assert out.used_tokens == 2100
    assert out.crossings == [(50, 900), (80, 900), (100, 2100)]
    assert [(d.amount_minor, d.balance_after_minor) for d in out.debits] == [(-10, 0)]  # the balance stops it
    assert out.counters[("big", "tokens_out")] == 1000 and out.counters[("small", "requests")] == 1


def test_debits_follow_the_running_charge_in_whole_units():
    assert debit_minor(Decimal("0.6"), Decimal("0.6"), 100) == 1  # 0.6 -> 1.2 passes a cent
    assert debit_minor(Decimal("1.2"), Decimal("0.3"), 100) == 0
    assert debit_minor(Decimal("0"), Decimal("5.5"), 3) == 3


@given(token_counts, token_counts, st.integers(min_value=-5, max_value=100_000))
def test_allowance_covers_input_first_and_never_more_than_is_left(tokens_in, tokens_out, remaining):
    inc_in, inc_out = included_split(tokens_in, tokens_out, remaining)
    assert 0 <= inc_in <= tokens_in and 0 <= inc_out <= tokens_out
    assert inc_in + inc_out == min(tokens_in + tokens_out, max(remaining, 0))
    assert inc_out == 0 or inc_in == tokens_in


@given(token_counts, token_counts, token_counts, prices, prices)
def test_charge_is_monotone_in_tokens(tokens_in, tokens_out, more, price_in, price_out):
    price = TierPrice(price_in, price_out)
    charge = overage_charge(tokens_in, tokens_out, price)
    assert charge >= 0
    assert overage_charge(tokens_in + more, tokens_out, price) >= charge
    assert overage_charge(tokens_in, tokens_out + more, price) >= charge


@given(usages, st.integers(min_value=0, max_value=100_000), st.integers(min_value=0, max_value=10**6), st.data())
def test_metering_in_two_batches_equals_one(batch, included, balance, data):
    """Splitting a tenant's events over two batches charges, debits and alerts exactly as one batch does."""
    plan = _plan(included)
    cut = data.draw(st.integers(min_value=0, max_value=len(batch)))
    whole = meter_usages(plan, _CATALOGUE, MeterStart(0, Decimal(0), balance), batch)
    first = meter_usages(plan, _CATALOGUE, MeterStart(0, Decimal(0), balance), batch[:cut])
    resumed = MeterStart(first.used_tokens, first.total_charge_minor, first.balance_minor)
    second = meter_usages(plan, _CATALOGUE, resumed, batch[cut:])
    assert first.lines + second.lines == whole.lines
    assert first.debits + second.debits == whole.debits
    assert first.crossings + second.crossings == whole.crossings
    assert (second.used_tokens, second.balance_minor) == (whole.used_tokens, whole.balance_minor)


@given(usages, st.integers(min_value=0, max_value=100_000), st.integers(min_value=0, max_value=10**6))
def test_allowance_debits_and_thresholds_add_up(batch, included, balance):
    plan = _plan(included)
    out = meter_usages(plan, _CATALOGUE, MeterStart(0, Decimal(0), balance), batch)
    total = sum(u.tokens_in + u.tokens_out for u in batch)
    assert sum(line.included_in + line.included_out for line in out.lines) == min(total, included)
    assert out.total_charge_minor == sum(line.charge_minor for line in out.lines)
    debited = -sum(debit.amount_minor for debit in out.debits)
    # Whole units of the running charge, as far as the balance reaches; never below zero.
    assert debited == min(int(out.total_charge_minor), balance) and out.balance_minor == balance - debited >= 0
    # Each soft limit fires once, when usage first reaches it.
    pcts = [pct for pct, _ in out.crossings]
    assert len(pcts) == len(set(pcts))
    assert set(pcts) == {pct for pct in plan.soft_limit_pcts if included and -(-included * pct // 100) <= total}
