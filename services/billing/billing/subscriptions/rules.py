"""Billing periods and base-fee proration, as pure functions of dates and plans.

Plan change rule: each plan is charged for the whole UTC days it was in force, the day of the change
going to the new plan; `prior_base_fee_minor` accrues the earlier plans' share.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime

from billing.plans.catalogue import Plan
from billing.plans.pricing import prorate
from billing.subscriptions.schemas import Subscription

__all__ = ["PlanSwitch", "month_start", "add_month", "period_days", "base_fee_parts", "plan_switch"]


def month_start(now: datetime) -> datetime:
    """Midnight UTC of the first day of `now`'s month."""
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def add_month(moment: datetime) -> datetime:
    """The same day and time one month later (the 31st becomes the month's last day)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_days(start: datetime, end: datetime) -> int:
    """Whole UTC days from `start`'s date to `end`'s date."""
    return (end.astimezone(UTC).date() - start.astimezone(UTC).date()).days


def _plan_start(sub: Subscription) -> datetime:
    """When the current plan's charging starts, clamped into the open period."""
    return min(max(sub.plan_since, sub.current_period_start), sub.current_period_end)


def base_fee_parts(sub: Subscription, plan: Plan) -> tuple[int, int, int]:
    """(earlier plans' accrued fee, current plan's prorated fee, days the current plan is charged for)."""
    total = period_days(sub.current_period_start, sub.current_period_end)
    days = period_days(_plan_start(sub), sub.current_period_end)
    return sub.prior_base_fee_minor, prorate(plan.base_fee_minor, days, total), days


@dataclass(frozen=True)
class PlanSwitch:
    """What a plan change writes: the earlier plans' accrued fee and when the new plan's charging starts."""

    prior_base_fee_minor: int
    plan_since: datetime


def plan_switch(before: Subscription, old_plan: Plan, now: datetime) -> PlanSwitch:
    """Charge `old_plan` up to the day of the change (`now`); the new plan starts at midnight of that day."""
    total = period_days(before.current_period_start, before.current_period_end)
    since = _plan_start(before)
    upto = min(max(now, since), before.current_period_end)
    prior = before.prior_base_fee_minor + prorate(old_plan.base_fee_minor, period_days(since, upto), total)
    day_start = upto.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return PlanSwitch(prior_base_fee_minor=prior, plan_since=max(day_start, before.current_period_start))
