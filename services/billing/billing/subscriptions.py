"""Subscriptions: one per tenant, created lazily on the free plan, advanced month by month.

A tenant without a row is on 'free'; the row is created on first need with `on conflict do nothing`
and the current calendar month (UTC) as its period, so concurrent creators agree. Every writer of a
tenant's billing state (metering, top-ups, plan changes, period close) first locks this row, which
serialises them per tenant without any cross-tenant lock.

Plan change rule: the new plan applies to the open period from the moment of the change: its allowance
(minus tokens already used in the period), prices and limits; usage metered before keeps the price it
was metered at. Base fee: each plan is charged for the whole UTC days it was in force, the day of the
change going to the new plan (`prior_base_fee_minor` accrues the earlier plans' share).
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import BadRequest
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import PLAN_CHANGED, PlanChanged
from billing.catalogue import DEFAULT_PLAN, Catalogue, Plan
from billing.money import prorate

__all__ = [
    "Subscription",
    "month_start",
    "add_month",
    "period_days",
    "ensure_subscription",
    "lock_subscription",
    "read_subscription",
    "change_plan",
    "base_fee_parts",
]


@dataclass(frozen=True)
class Subscription:
    tenant_id: uuid.UUID
    plan_code: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    plan_since: datetime
    prior_base_fee_minor: int
    stripe_customer_id: str | None
    stripe_subscription_id: str | None


_COLS = (
    "tenant_id, plan_code, status, current_period_start, current_period_end, plan_since, prior_base_fee_minor,"
    " stripe_customer_id, stripe_subscription_id"
)
_ENSURE = text(
    "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, plan_since)"
    " values (:tid, :plan, :start, :end, :start) on conflict (tenant_id) do nothing"
)
_SELECT = text(f"select {_COLS} from subscriptions where tenant_id = :tid")  # noqa: S608  # nosec B608 - constant
_LOCK = text(f"select {_COLS} from subscriptions where tenant_id = :tid for update")  # noqa: S608  # nosec B608
_CHANGE = text(
    "update subscriptions set plan_code = :plan, plan_since = :now, prior_base_fee_minor = :prior,"  # noqa: S608  # nosec B608
    f" updated_at = now() where tenant_id = :tid returning {_COLS}"
)


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


async def ensure_subscription(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> None:
    """Create the tenant's free subscription for the current month unless it has one (race-safe)."""
    start = month_start(now)
    await session.execute(_ENSURE, {"tid": tenant_id, "plan": DEFAULT_PLAN, "start": start, "end": add_month(start)})


async def _fetch(session: AsyncSession, tenant_id: uuid.UUID, now: datetime, *, lock: bool) -> Subscription:
    query = _LOCK if lock else _SELECT
    row = (await session.execute(query, {"tid": tenant_id})).first()
    if row is None:
        await ensure_subscription(session, tenant_id, now)
        row = (await session.execute(query, {"tid": tenant_id})).one()
    return Subscription(**row._mapping)


async def read_subscription(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> Subscription:
    return await _fetch(session, tenant_id, now, lock=False)


async def lock_subscription(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> Subscription:
    """The tenant's subscription, locked until the transaction ends (created if missing)."""
    return await _fetch(session, tenant_id, now, lock=True)


def base_fee_parts(sub: Subscription, plan: Plan) -> tuple[int, int, int]:
    """(earlier plans' accrued fee, current plan's prorated fee, days the current plan is charged for)."""
    total = period_days(sub.current_period_start, sub.current_period_end)
    since = min(max(sub.plan_since, sub.current_period_start), sub.current_period_end)
    days = period_days(since, sub.current_period_end)
    return sub.prior_base_fee_minor, prorate(plan.base_fee_minor, days, total), days


async def change_plan(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, new_code: str, now: datetime
) -> tuple[Subscription, Subscription]:
    """Move the tenant to `new_code` now; returns (before, after). Same plan: nothing changes."""
    new_plan = catalogue.plan(new_code)
    before = await lock_subscription(session, tenant_id, now)
    if new_plan.code == before.plan_code:
        return before, before
    if not new_plan.active:
        raise BadRequest(f"Plan '{new_code}' is not available.", code="plan_inactive", param="plan")
    old_plan = catalogue.plan(before.plan_code)
    total = period_days(before.current_period_start, before.current_period_end)
    since = min(max(before.plan_since, before.current_period_start), before.current_period_end)
    upto = min(max(now, since), before.current_period_end)
    prior = before.prior_base_fee_minor + prorate(old_plan.base_fee_minor, period_days(since, upto), total)
    # The day of the change belongs to the new plan: it is charged from midnight of that day.
    day_start = upto.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    plan_since = max(day_start, before.current_period_start)
    row = (
        await session.execute(_CHANGE, {"tid": tenant_id, "plan": new_plan.code, "now": plan_since, "prior": prior})
    ).one()
    after = Subscription(**row._mapping)
    data = PlanChanged(
        old_plan=before.plan_code, new_plan=new_plan.code, period_start=before.current_period_start, changed_at=now
    )
    await write_outbox(
        session,
        EventEnvelope(
            id=event_id(PLAN_CHANGED, str(tenant_id), now.isoformat()),
            type=PLAN_CHANGED,
            tenant_id=tenant_id,
            data=data.model_dump(mode="json"),
        ),
    )
    return before, after
