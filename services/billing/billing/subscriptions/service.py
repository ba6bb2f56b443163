"""Subscriptions: one per tenant, created lazily on the free plan, advanced month by month.

A tenant without a row is on 'free'; the row is created on first need with `on conflict do nothing`
and the current calendar month (UTC) as its period, so concurrent creators agree. Every writer of a
tenant's billing state (metering, top-ups, plan changes, period close) first locks this row, which
serialises them per tenant without any cross-tenant lock.

Plan change rule: the new plan applies to the open period from the moment of the change: its allowance
(minus tokens already used in the period), prices and limits; usage metered before keeps the price it
was metered at. Base fee: see `rules.plan_switch`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import BadRequest
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import PLAN_CHANGED, PlanChanged
from billing.plans.catalogue import DEFAULT_PLAN, Catalogue
from billing.subscriptions import repository
from billing.subscriptions.rules import add_month, month_start, plan_switch
from billing.subscriptions.schemas import Subscription

__all__ = ["ensure_subscription", "read_subscription", "lock_subscription", "change_plan"]


async def ensure_subscription(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> None:
    """Create the tenant's free subscription for the current month unless it has one (race-safe)."""
    start = month_start(now)
    await repository.insert_if_missing(session, tenant_id, DEFAULT_PLAN, start, add_month(start))


async def _fetch(session: AsyncSession, tenant_id: uuid.UUID, now: datetime, *, lock: bool) -> Subscription:
    sub = await repository.fetch(session, tenant_id, lock=lock)
    if sub is None:
        await ensure_subscription(session, tenant_id, now)
        sub = await repository.fetch(session, tenant_id, lock=lock)
        assert sub is not None  # noqa: S101  # nosec B101 - inserted (or found) just above, in this transaction
    return sub


async def read_subscription(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> Subscription:
    return await _fetch(session, tenant_id, now, lock=False)


async def lock_subscription(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> Subscription:
    """The tenant's subscription, locked until the transaction ends (created if missing)."""
    return await _fetch(session, tenant_id, now, lock=True)


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
    switch = plan_switch(before, catalogue.plan(before.plan_code), now)
    after = await repository.set_plan(session, tenant_id, new_plan.code, switch.plan_since, switch.prior_base_fee_minor)
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
