"""Money arithmetic: half-up rounding where billed, floors for debits, charges linear in tokens, proration."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.plans.pricing import floor_minor, prorate, round_minor, token_charge

prices = st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False)
tokens = st.integers(min_value=0, max_value=10**9)


def test_money_rounds_half_up_only_where_billed():
    assert round_minor(Decimal("2.5")) == 3
    assert round_minor(Decimal("2.4999")) == 2
    assert floor_minor(Decimal("61.5")) == 61
    assert token_charge(100, Decimal("25")) == Decimal("2.5")
    assert prorate(2000, 20, 30) == 1333  # 1333.33 -> 1333
    assert prorate(2000, 10, 30) == 667  # 666.67 -> 667
    assert prorate(2000, 5, 0) == 0  # an empty period charges nothing


@given(tokens, tokens, prices)
def test_charge_is_monotone_and_additive_in_tokens(a, b, price):
    assert token_charge(a + b, price) == token_charge(a, price) + token_charge(b, price)
    assert token_charge(min(a, b), price) <= token_charge(max(a, b), price)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=4, allow_nan=False, allow_infinity=False))
def test_rounding_stays_within_half_a_unit(amount):
    assert abs(Decimal(round_minor(amount)) - amount) <= Decimal("0.5")
    assert Decimal(floor_minor(amount)) <= amount < floor_minor(amount) + 1


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=366), st.data())
def test_proration_of_a_split_period_sums_to_the_whole(fee, total, data):
    """Parts are rounded each (half-up), so n parts sum to the fee within n/2 minor units; one part is exact."""
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=total), max_size=5)))
    bounds = [0, *cuts, total]
    parts = [prorate(fee, end - start, total) for start, end in zip(bounds, bounds[1:], strict=False)]
    assert prorate(fee, total, total) == fee
    assert abs(sum(parts) - fee) <= len(parts) / 2
    assert all(0 <= part <= fee for part in parts)
