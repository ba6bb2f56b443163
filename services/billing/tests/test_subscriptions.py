"""Period arithmetic, base-fee proration on plan change, money rounding (pure functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from billing.plans.catalogue import Plan
from billing.plans.pricing import floor_minor, prorate, round_minor, token_charge
from billing.subscriptions.rules import add_month, base_fee_parts, month_start, period_days
from billing.subscriptions.schemas import Subscription


def _plan(fee: int) -> Plan:
    return Plan("p", "P", "usd", fee, 0, None, "bill", None, (80,), True, {})


def test_periods_are_calendar_months():
    assert month_start(datetime(2026, 11, 27, 13, 5, tzinfo=UTC)) == datetime(2026, 11, 1, tzinfo=UTC)
    assert add_month(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert add_month(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)
    assert period_days(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)) == 30


def test_money_rounds_half_up_only_where_billed():
    assert round_minor(Decimal("2.5")) == 3
    assert round_minor(Decimal("2.4999")) == 2
    assert floor_minor(Decimal("61.5")) == 61
    assert token_charge(100, Decimal("25")) == Decimal("2.5")
    assert prorate(2000, 20, 30) == 1333  # 1333.33 -> 1333
    assert prorate(2000, 10, 30) == 667  # 666.67 -> 667


def test_base_fee_after_a_mid_period_change():
    # $20 plan since Nov 11 (20 of 30 days) after an earlier plan accrued $3.33.
    sub = Subscription(
        tenant_id=uuid.uuid4(),
        plan_code="p",
        status="active",
        current_period_start=datetime(2026, 11, 1, tzinfo=UTC),
        current_period_end=datetime(2026, 12, 1, tzinfo=UTC),
        plan_since=datetime(2026, 11, 11, tzinfo=UTC),
        prior_base_fee_minor=333,
        stripe_customer_id=None,
        stripe_subscription_id=None,
    )
    assert base_fee_parts(sub, _plan(2000)) == (333, 1333, 20)
