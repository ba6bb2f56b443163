"""Reading a tenant's metered usage for a period: per model and meter, with totals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import BadRequest, NotFound
from billing.catalogue import Catalogue
from billing.subscriptions import Subscription, read_subscription

__all__ = ["ModelUsage", "PeriodUsage", "parse_period", "period_usage"]


@dataclass(frozen=True)
class ModelUsage:
    model_alias: str
    tier: str
    tokens_in: int
    tokens_out: int
    requests: int


@dataclass(frozen=True)
class PeriodUsage:
    period_start: datetime
    period_end: datetime | None
    is_current: bool
    plan: str
    included_tokens: int
    models: list[ModelUsage]
    tokens_in: int
    tokens_out: int
    requests: int
    currency: str
    # Overage charge metered so far (minor units of `currency`, unrounded); the invoice rounds per line.
    charge_minor: Decimal


def parse_period(value: str | None) -> date | None:
    """None for the open period ('current' or absent), else the start date (YYYY-MM-DD) of a past one."""
    if value is None or value == "current":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "period must be 'current' or the start date of a billing period as YYYY-MM-DD.",
            code="invalid_period",
            param="period",
        ) from None


_COUNTERS = text(
    "select model_alias, meter, quantity from usage_counters where tenant_id = :tid and period_start = :period_start"
)
_CHARGE = text(
    "select coalesce(sum(charge_minor), 0) from usage_ledger where tenant_id = :tid and period_start = :period_start"
)
_PAST_PERIOD = text(
    """
    select period_start, max(period_end) as period_end, max(plan_code) as plan_code from (
        select period_start, period_end, plan_code from invoices where tenant_id = :tid
        union all
        select distinct period_start, null::timestamptz, null from usage_counters where tenant_id = :tid
    ) p where (period_start at time zone 'UTC')::date = :day
    group by period_start order by period_start limit 1
    """
)


async def period_usage(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, day: date | None, now: datetime
) -> PeriodUsage:
    sub: Subscription = await read_subscription(session, tenant_id, now)
    start, end, plan_code = sub.current_period_start, sub.current_period_end, sub.plan_code
    is_current = day is None or day == start.astimezone(UTC).date()
    if not is_current:
        row = (await session.execute(_PAST_PERIOD, {"tid": tenant_id, "day": day})).first()
        if row is None:
            raise NotFound(f"No billing period starting on {day}.", code="period_not_found", param="period")
        # A closed period shows the plan it was invoiced on; one still being closed, the current plan.
        start, end, plan_code = row.period_start, row.period_end, row.plan_code or sub.plan_code
    params = {"tid": tenant_id, "period_start": start}
    by_model: dict[str, dict[str, int]] = {}
    for row in (await session.execute(_COUNTERS, params)).all():
        by_model.setdefault(row.model_alias, {})[row.meter] = int(row.quantity)
    models = [
        ModelUsage(
            model_alias=alias,
            tier=catalogue.tier(alias),
            tokens_in=meters.get("tokens_in", 0),
            tokens_out=meters.get("tokens_out", 0),
            requests=meters.get("requests", 0),
        )
        for alias, meters in sorted(by_model.items())
    ]
    charge_minor = Decimal((await session.execute(_CHARGE, params)).scalar_one())
    return PeriodUsage(
        period_start=start,
        period_end=end,
        is_current=is_current,
        plan=plan_code,
        included_tokens=catalogue.plan(plan_code).included_tokens,
        currency=catalogue.plan(plan_code).currency,
        models=models,
        tokens_in=sum(m.tokens_in for m in models),
        tokens_out=sum(m.tokens_out for m in models),
        requests=sum(m.requests for m in models),
        charge_minor=charge_minor,
    )
