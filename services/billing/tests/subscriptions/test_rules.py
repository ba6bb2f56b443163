"""Period arithmetic and base-fee proration on plan change (pure functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.plans.catalogue import Plan
from billing.subscriptions.rules import add_month, base_fee_parts, month_start, period_days, plan_switch
from billing.subscriptions.schemas import Subscription


def _plan(fee: int, code: str = "p") -> Plan:
    return Plan(code, code.upper(), "usd", fee, 0, None, "bill", None, (80,), True, {})


def _sub(start: datetime, *, plan_since: datetime | None = None, prior: int = 0) -> Subscription:
    return Subscription(
        tenant_id=uuid.uuid4(),
        plan_code="p",
        status="active",
        current_period_start=start,
        current_period_end=add_month(start),
        plan_since=plan_since or start,
        prior_base_fee_minor=prior,
        stripe_customer_id=None,
        stripe_subscription_id=None,
    )


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC))


def test_periods_are_calendar_months():
    assert month_start(datetime(2026, 11, 27, 13, 5, tzinfo=UTC)) == datetime(2026, 11, 1, tzinfo=UTC)
    assert add_month(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert add_month(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)
    assert period_days(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)) == 30


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


def test_a_change_charges_the_old_plan_up_to_the_day_of_the_change():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    switch = plan_switch(_sub(start), _plan(3000), datetime(2026, 11, 11, 15, 30, tzinfo=UTC))
    # 10 of 30 days of $30; the new plan is charged from midnight of the change's day.
    assert (switch.prior_base_fee_minor, switch.plan_since) == (1000, datetime(2026, 11, 11, tzinfo=UTC))


@given(instants)
def test_add_month_lands_in_the_next_month(moment):
    later = add_month(moment)
    assert (later.year * 12 + later.month) - (moment.year * 12 + moment.month) == 1
    assert later.day <= moment.day and later.time() == moment.time()
    assert 28 <= period_days(month_start(moment), add_month(month_start(moment))) <= 31


@given(st.integers(min_value=0, max_value=10**9), instants, st.data())
def test_a_period_split_by_plan_changes_charges_the_whole_fee(fee, moment, data):
    """Changes between plans of the same fee charge that fee for the period, within a unit per part (rounding)."""
    start = month_start(moment)
    end = add_month(start)
    changes = sorted(
        data.draw(st.lists(st.integers(min_value=0, max_value=period_days(start, end) * 24 - 1), max_size=4))
    )
    sub = _sub(start)
    for hours in changes:
        switch = plan_switch(sub, _plan(fee), start + timedelta(hours=hours))
        sub = _sub(start, plan_since=switch.plan_since, prior=switch.prior_base_fee_minor)
    prior, current, days = base_fee_parts(sub, _plan(fee))
    assert 0 <= days <= period_days(start, end)
    assert abs(prior + current - fee) <= (len(changes) + 1) / 2


@given(instants, st.integers(min_value=0, max_value=10**9))
def test_plan_switch_never_charges_more_than_the_period(moment, fee):
    start = month_start(moment)
    switch = plan_switch(_sub(start), _plan(fee), moment)
    assert 0 <= switch.prior_base_fee_minor <= fee
    assert start <= switch.plan_since <= moment
