"""Publishing quota state to Redis (`aiaas.quota`): limits of the plan, committed usage, balance.

Called after every metering commit (for the tenants in the batch), right after a plan change or a
top-up (so raising a plan lifts a block at once), and for every subscribed tenant on a timer, which
also repairs Redis after a flush or a missed write. Counters only move up within a period (the
reconcile script keeps the larger value), so a slightly stale write never undoes usage.

The same publishes write each tenant's plan code to the `tenant_plans` KV bucket (`aiaas.flags.plans`),
which every service's `FlagClient` reads to apply per-plan flag overrides. `TenantPlanPublisher` writes
a tenant's entry only when the bucket holds another plan, so re-publishing (the timer, each metering
commit) costs no KV write; a NATS outage is logged and repaired by the timer, like a Redis one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, tenant_session
from aiaas.flags.plans import TenantPlanPublisher
from aiaas.quota import PUBLISHED_KEY, QuotaState, reconcile
from billing.metering import repository
from billing.plans.catalogue import Catalogue, Plan
from billing.plans.service import CatalogueCache
from billing.state import BillingState
from billing.subscriptions.repository import plan_codes

__all__ = [
    "quota_state",
    "TenantQuotas",
    "read_tenant_quotas",
    "read_quota_states",
    "read_plan_codes",
    "publish_quota_states",
    "publish_tenant_quotas",
    "publish_quota",
    "QuotaPublisher",
    "reconcile_all",
    "reconcile_loop",
]

log = logging.getLogger(__name__)


def quota_state(plan: Plan, period_start: datetime, used_tokens: int, used_requests: int, credit: int) -> QuotaState:
    return QuotaState(
        period_start=period_start.isoformat(),
        token_limit=plan.token_limit,
        request_limit=plan.request_limit,
        used_tokens=used_tokens,
        used_requests=used_requests,
        credit_minor=credit,
        limit_name=plan.limit_name,
    )


@dataclass(frozen=True)
class TenantQuotas:
    """What billing publishes per tenant: its quota state (Redis) and its plan code (`tenant_plans` KV)."""

    states: dict[uuid.UUID, QuotaState]
    plans: dict[uuid.UUID, str]


async def read_tenant_quotas(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID | None = None
) -> TenantQuotas:
    """One tenant's state and plan, or (on a platform_admin session) every subscribed tenant's."""
    rows = await repository.quota_rows(session, tenant_id)
    states = {}
    for row in rows:
        plan = catalogue.plans.get(row.plan_code)
        if plan is not None:
            states[row.tenant_id] = quota_state(
                plan, row.period_start, row.used_tokens, row.used_requests, row.balance_minor
            )
    return TenantQuotas(states=states, plans={row.tenant_id: row.plan_code for row in rows})


async def read_quota_states(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID | None = None
) -> dict[uuid.UUID, QuotaState]:
    """The quota states alone (see `read_tenant_quotas`)."""
    return (await read_tenant_quotas(session, catalogue, tenant_id)).states


async def read_plan_codes(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The plan code of each of these tenants that has a subscription."""
    return await plan_codes(session, tenant_ids)


async def publish_quota_states(
    client: redis_asyncio.Redis, states: Mapping[uuid.UUID, QuotaState], *, complete: bool = False
) -> bool:
    """Write the states in one pipelined round trip; a Redis outage is logged, not raised (the timer repairs it).

    `complete`: these are every tenant's states, so `PUBLISHED_KEY` is set after them (same round trip).
    """
    if not states and not complete:
        return True
    try:
        async with client.pipeline(transaction=False) as pipe:
            for tenant, state in states.items():
                # A pipeline queues the command and returns at once; execute() sends them all.
                await reconcile(pipe, tenant, state)
            if complete:
                pipe.set(PUBLISHED_KEY, "1")
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("quota state not published", extra={"error": repr(exc), "tenants": len(states)})
        return False
    return True


async def publish_tenant_quotas(
    client: redis_asyncio.Redis, plans: TenantPlanPublisher, quotas: TenantQuotas, *, complete: bool = False
) -> bool:
    """Quota states to Redis, then plan codes to KV (only those that changed); neither outage raises."""
    states_published = await publish_quota_states(client, quotas.states, complete=complete)
    plans_published = await plans.publish(quotas.plans)
    return states_published and plans_published


async def publish_quota(state: BillingState, tenant_id: uuid.UUID) -> None:
    """Publish one tenant's state at once (after a paid top-up is credited), read in its own transaction."""
    catalogue = await state.catalogue.get()
    async with tenant_session(state.sessions, tenant_id) as session:
        quotas = await read_tenant_quotas(session, catalogue, tenant_id)
    await publish_tenant_quotas(state.redis, state.plans, quotas)


class QuotaPublisher:
    """Publishes the meter's post-commit states in the background, so Redis latency never stalls consuming.

    States submitted while a write is in flight are merged per tenant (the newest wins: within a
    period committed usage only grows) and sent together next.

    Plans: metering never changes a plan, but a tenant's first usage creates its (free) subscription.
    So after each write the plans of the tenants the `tenant_plans` bucket does not know yet are read
    (one small query, none once every tenant is known) and published; plan changes are published by
    the API that makes them, and the timer sweep repairs anything missed.
    """

    def __init__(
        self,
        client: redis_asyncio.Redis,
        plans: TenantPlanPublisher,
        admin_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self._client = client
        self._plans = plans
        self._admin_sessions = admin_sessions
        self._pending: dict[uuid.UUID, QuotaState] = {}
        self._wake = asyncio.Event()

    def submit(self, states: Mapping[uuid.UUID, QuotaState]) -> None:
        self._pending.update(states)
        self._wake.set()

    async def flush(self) -> None:
        states, self._pending = self._pending, {}
        self._wake.clear()
        await publish_quota_states(self._client, states)
        await self._publish_new_plans(states.keys())

    async def _publish_new_plans(self, tenants: Collection[uuid.UUID]) -> None:
        # Not live (NATS down, bucket not loaded yet): every tenant would look new; the sweep covers them.
        if not self._plans.live:
            return
        unknown = [tenant for tenant in tenants if self._plans.plan_of(tenant) is None]
        if not unknown:
            return
        try:
            async with admin_session(self._admin_sessions) as session:
                codes = await read_plan_codes(session, unknown)
        except (OSError, SQLAlchemyError) as exc:
            log.warning("tenant plans not read", extra={"error": repr(exc), "tenants": len(unknown)})
            return
        await self._plans.publish(codes)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            await self.flush()


async def reconcile_all(
    admin_sessions: async_sessionmaker[AsyncSession],
    catalogue: CatalogueCache,
    redis: redis_asyncio.Redis,
    plans: TenantPlanPublisher,
) -> int:
    """Publish every subscribed tenant's quota state and plan code; returns how many states."""
    current = await catalogue.get()
    async with admin_session(admin_sessions) as session:
        quotas = await read_tenant_quotas(session, current)
    await publish_tenant_quotas(redis, plans, quotas, complete=True)
    return len(quotas.states)


async def _redis_lost_quotas(redis: redis_asyncio.Redis) -> bool:
    """True when Redis no longer holds the published quota states (it restarted empty or was flushed)."""
    try:
        return not await redis.exists(PUBLISHED_KEY)
    except (RedisError, OSError):
        return False  # unreachable: nothing can be published now; checked again on the next tick


async def reconcile_loop(
    admin_sessions: async_sessionmaker[AsyncSession],
    catalogue: CatalogueCache,
    redis: redis_asyncio.Redis,
    plans: TenantPlanPublisher,
    interval_s: float,
    stop: asyncio.Event,
    watch_s: float = 0.25,
) -> None:
    """Every tenant's state every `interval_s`, and at once when Redis lost them (checked every `watch_s`)."""
    due = 0.0
    while not stop.is_set():
        if time.monotonic() >= due or await _redis_lost_quotas(redis):
            try:
                await reconcile_all(admin_sessions, catalogue, redis, plans)
            except (OSError, SQLAlchemyError) as exc:
                log.warning("quota reconcile failed", extra={"error": repr(exc)})
            due = time.monotonic() + interval_s
        try:
            await asyncio.wait_for(stop.wait(), timeout=min(watch_s, interval_s))
        except TimeoutError:
            continue
