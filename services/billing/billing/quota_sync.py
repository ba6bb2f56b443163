"""Publishing quota state to Redis (`aiaas.quota`): limits of the plan, committed usage, balance.

Called after every metering commit (for the tenants in the batch), right after a plan change or a
top-up (so raising a plan lifts a block at once), and for every subscribed tenant on a timer, which
also repairs Redis after a flush or a missed write. Counters only move up within a period (the
reconcile script keeps the larger value), so a slightly stale write never undoes usage.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.quota import QuotaState, reconcile
from billing.catalogue import Catalogue
from billing.metering import quota_state

__all__ = ["read_quota_states", "publish_quota_states", "QuotaPublisher"]

log = logging.getLogger(__name__)

_STATES = """
    select s.tenant_id, s.plan_code, s.current_period_start,
        coalesce(sum(c.quantity) filter (where c.meter <> 'requests'), 0) as used_tokens,
        coalesce(sum(c.quantity) filter (where c.meter = 'requests'), 0) as used_requests,
        coalesce((select k.balance_after_minor from credit_ledger k where k.tenant_id = s.tenant_id
            order by k.id desc limit 1), 0) as balance
    from subscriptions s
    left join usage_counters c on c.tenant_id = s.tenant_id and c.period_start = s.current_period_start
    {where}
    group by s.tenant_id
"""
_ONE = text(_STATES.format(where="where s.tenant_id = :tid"))
_ALL = text(_STATES.format(where=""))


async def read_quota_states(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID | None = None
) -> dict[uuid.UUID, QuotaState]:
    """One tenant's state, or (on a platform_admin session) every subscribed tenant's."""
    rows = (await session.execute(_ALL) if tenant_id is None else await session.execute(_ONE, {"tid": tenant_id})).all()
    states = {}
    for row in rows:
        plan = catalogue.plans.get(row.plan_code)
        if plan is not None:
            states[row.tenant_id] = quota_state(
                plan, row.current_period_start, int(row.used_tokens), int(row.used_requests), int(row.balance)
            )
    return states


async def publish_quota_states(client: redis_asyncio.Redis, states: Mapping[uuid.UUID, QuotaState]) -> bool:
    """Write the states in one pipelined round trip; a Redis outage is logged, not raised (the timer repairs it)."""
    if not states:
        return True
    try:
        async with client.pipeline(transaction=False) as pipe:
            for tenant, state in states.items():
                # A pipeline queues the command and returns at once; execute() sends them all.
                await reconcile(pipe, tenant, state)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("quota state not published", extra={"error": repr(exc), "tenants": len(states)})
        return False
    return True


class QuotaPublisher:
    """Publishes the meter's post-commit states in the background, so Redis latency never stalls consuming.

    States submitted while a write is in flight are merged per tenant (the newest wins: within a
    period committed usage only grows) and sent together next.
    """

    def __init__(self, client: redis_asyncio.Redis) -> None:
        self._client = client
        self._pending: dict[uuid.UUID, QuotaState] = {}
        self._wake = asyncio.Event()

    def submit(self, states: Mapping[uuid.UUID, QuotaState]) -> None:
        self._pending.update(states)
        self._wake.set()

    async def flush(self) -> None:
        states, self._pending = self._pending, {}
        self._wake.clear()
        await publish_quota_states(self._client, states)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            await self.flush()
