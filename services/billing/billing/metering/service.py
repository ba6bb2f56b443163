"""Metering: usage.recorded events -> usage ledger, counters, overage charges, credit debits, outbox events.

One transaction per tenant per batch, under the tenant's RLS context and its subscription row lock
(so the included allowance is consumed in order, and period close waits for it). Idempotency: an
event already in the ledger (checked under the lock, and enforced by the ledger's unique event id)
adds nothing: no counter, no charge, no debit, no event. All writes of a tenant's batch go in one
statement of data-modifying CTEs, so a batch costs a handful of round trips whatever its size.
The charge rule itself is metering/rules.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.errors import NotFound
from aiaas.events import Received
from aiaas.quota import QuotaState
from billing.alerts.service import record_thresholds
from billing.metering import repository
from billing.metering.quota import quota_state
from billing.metering.rules import MeterStart, meter_usages
from billing.metering.schemas import CacheUsage, MeteredPeriod, ModelUsage, PeriodUsage, Usage
from billing.plans.catalogue import Catalogue
from billing.plans.service import CatalogueCache
from billing.subscriptions.service import ensure_subscription, read_subscription

__all__ = ["ConcurrentMetering", "meter_tenant", "meter_batch", "period_usage"]


class ConcurrentMetering(RuntimeError):
    """The ledger refused an event the lock said was new: roll back and let the consumer retry."""


async def meter_tenant(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, usages: Sequence[Usage], now: datetime
) -> QuotaState:
    """Meter one tenant's events inside its open transaction; returns its quota state after them."""
    ids = [usage.event_id for usage in usages]
    state = await repository.lock_meter_state(session, tenant_id, ids)
    if state is None:
        await ensure_subscription(session, tenant_id, now)
        state = await repository.lock_meter_state(session, tenant_id, ids)
        assert state is not None  # noqa: S101  # nosec B101 - created just above, in this transaction
    plan = catalogue.plan(state.plan_code)
    fresh = [usage for usage in usages if usage.event_id not in state.seen]
    if not fresh:
        return quota_state(plan, state.period_start, state.used_tokens, state.used_requests, state.balance_minor)
    start = MeterStart(state.used_tokens, state.period_charge_minor, state.balance_minor)
    outcome = meter_usages(plan, catalogue, start, fresh)
    period = MeteredPeriod(tenant_id, state.period_start, plan.currency, now)
    inserted = await repository.write_metered(session, period, outcome)
    if inserted != len(fresh):
        raise ConcurrentMetering(f"expected {len(fresh)} new ledger rows for tenant {tenant_id}, inserted {inserted}")
    if outcome.crossings:
        await record_thresholds(session, plan, tenant_id, state.period_start, outcome.crossings, now)
    return quota_state(
        plan, state.period_start, outcome.used_tokens, state.used_requests + len(fresh), outcome.balance_minor
    )


def _by_tenant(batch: Sequence[Received]) -> dict[uuid.UUID, list[Usage]]:
    grouped: dict[uuid.UUID, dict[uuid.UUID, Usage]] = {}
    for item in batch:
        usages = grouped.setdefault(item.event.tenant_id, {})
        # The same event twice in one batch (a replay next to the original) is metered once.
        usages.setdefault(item.event.id, Usage.from_event(item.event))
    return {tenant: list(usages.values()) for tenant, usages in grouped.items()}


async def _meter_one(
    sessions: async_sessionmaker[AsyncSession],
    catalogues: CatalogueCache,
    tenant_id: uuid.UUID,
    usages: Sequence[Usage],
    now: datetime,
) -> QuotaState:
    try:
        async with tenant_session(sessions, tenant_id) as session:
            return await meter_tenant(session, await catalogues.get(), tenant_id, usages, now)
    except NotFound:
        # A plan created after the cached catalogue was loaded: reload it and try once more.
        catalogues.invalidate()
        async with tenant_session(sessions, tenant_id) as session:
            return await meter_tenant(session, await catalogues.get(), tenant_id, usages, now)


async def meter_batch(
    sessions: async_sessionmaker[AsyncSession],
    catalogues: CatalogueCache,
    batch: Sequence[Received],
    now: datetime,
    *,
    concurrency: int = 4,
) -> dict[uuid.UUID, QuotaState]:
    """Meter a fetched batch, one transaction per tenant (up to `concurrency` at once).

    Returns each tenant's committed quota state. If one tenant fails the others may have committed;
    the consumer then retries event by event and the committed ones are recognised as already metered.
    """
    grouped = _by_tenant(batch)
    limit = asyncio.Semaphore(concurrency)

    async def one(tenant_id: uuid.UUID) -> tuple[uuid.UUID, QuotaState]:
        async with limit:
            return tenant_id, await _meter_one(sessions, catalogues, tenant_id, grouped[tenant_id], now)

    results = await asyncio.gather(*(one(tenant_id) for tenant_id in grouped), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result  # every transaction has ended (committed or rolled back) by now
    return dict(result for result in results if not isinstance(result, BaseException))


async def period_usage(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, day: date | None, now: datetime
) -> PeriodUsage:
    """The open period's usage (`day` None or its start date), or that of the past period starting on `day`."""
    sub = await read_subscription(session, tenant_id, now)
    start, plan_code = sub.current_period_start, sub.plan_code
    end: datetime | None = sub.current_period_end
    is_current = day is None or day == start.astimezone(UTC).date()
    if day is not None and not is_current:
        past = await repository.past_period(session, tenant_id, day)
        if past is None:
            raise NotFound(f"No billing period starting on {day}.", code="period_not_found", param="period")
        # A closed period shows the plan it was invoiced on; one still being closed, the current plan.
        start, end, plan_code = past.period_start, past.period_end, past.plan_code or sub.plan_code
    models = [
        ModelUsage(
            model_alias=alias,
            tier=catalogue.tier(alias),
            tokens_in=meters.get("tokens_in", 0),
            tokens_out=meters.get("tokens_out", 0),
            requests=meters.get("requests", 0),
            cache_hits_exact=meters.get("cache_hits_exact", 0),
            cache_hits_semantic=meters.get("cache_hits_semantic", 0),
            cached_tokens=meters.get("cached_tokens", 0),
        )
        for alias, meters in sorted((await repository.period_counters(session, tenant_id, start)).items())
    ]
    plan = catalogue.plan(plan_code)
    return PeriodUsage(
        period_start=start,
        period_end=end,
        is_current=is_current,
        plan=plan_code,
        included_tokens=plan.included_tokens,
        currency=plan.currency,
        models=models,
        tokens_in=sum(m.tokens_in for m in models),
        tokens_out=sum(m.tokens_out for m in models),
        requests=sum(m.requests for m in models),
        charge_minor=await repository.period_charge(session, tenant_id, start),
        cache=CacheUsage(
            exact_hits=sum(m.cache_hits_exact for m in models),
            semantic_hits=sum(m.cache_hits_semantic for m in models),
            cached_tokens=sum(m.cached_tokens for m in models),
            charge_minor=await repository.period_cache_charge(session, tenant_id, start),
        ),
    )
