"""SQL of `subscriptions`: one row per tenant, the lock every writer of a tenant's billing state takes first."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.subscriptions.schemas import Subscription

__all__ = ["insert_if_missing", "fetch", "set_plan", "advance_period", "due_tenants", "plan_codes"]

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
    "update subscriptions set plan_code = :plan, plan_since = :since, prior_base_fee_minor = :prior,"  # noqa: S608  # nosec B608
    f" updated_at = now() where tenant_id = :tid returning {_COLS}"
)
_ADVANCE = text(
    "update subscriptions set current_period_start = :start, current_period_end = :end, plan_since = :start,"
    " prior_base_fee_minor = 0, period_charge_minor = 0, updated_at = now() where tenant_id = :tid"
)
_DUE = text("select tenant_id from subscriptions where current_period_end <= :now order by tenant_id")
_PLAN_CODES = text("select tenant_id, plan_code from subscriptions where tenant_id = any(:ids)")


async def insert_if_missing(
    session: AsyncSession, tenant_id: uuid.UUID, plan_code: str, start: datetime, end: datetime
) -> None:
    """Race-safe: concurrent creators agree, the first row wins."""
    await session.execute(_ENSURE, {"tid": tenant_id, "plan": plan_code, "start": start, "end": end})


async def fetch(session: AsyncSession, tenant_id: uuid.UUID, *, lock: bool) -> Subscription | None:
    """The tenant's row (`lock`: locked until the transaction ends), None without one."""
    row = (await session.execute(_LOCK if lock else _SELECT, {"tid": tenant_id})).first()
    return None if row is None else Subscription(**row._mapping)


async def set_plan(
    session: AsyncSession, tenant_id: uuid.UUID, plan_code: str, since: datetime, prior_base_fee_minor: int
) -> Subscription:
    params = {"tid": tenant_id, "plan": plan_code, "since": since, "prior": prior_base_fee_minor}
    return Subscription(**(await session.execute(_CHANGE, params)).one()._mapping)


async def advance_period(session: AsyncSession, tenant_id: uuid.UUID, start: datetime, end: datetime) -> None:
    """Open the next period: the plan's charging restarts with it, nothing accrued yet."""
    await session.execute(_ADVANCE, {"tid": tenant_id, "start": start, "end": end})


async def due_tenants(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Tenants whose open period ended by `now` (a platform_admin session sees every tenant)."""
    return [row.tenant_id for row in (await session.execute(_DUE, {"now": now})).all()]


async def plan_codes(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The plan code of each of these tenants that has a subscription."""
    rows = (await session.execute(_PLAN_CODES, {"ids": list(tenant_ids)})).all()
    return {row.tenant_id: row.plan_code for row in rows}
