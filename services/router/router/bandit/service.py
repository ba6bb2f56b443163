"""The bandit's state in Postgres: arms read through a short per-process cache, observations (outcomes and cost
ratios) added in the caller's tenant transaction (so a reward and its arm update commit together)."""

from __future__ import annotations

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from router.bandit import repository
from router.bandit.rules import Arm, TenantArms

__all__ = ["ArmStore", "observe", "observe_cost"]

_MAX_CACHED = 100_000


class ArmStore:
    """A tenant's arms (every context: a few dozen rows), reused for `ttl_s` seconds (0 = read every decision)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._cache: dict[uuid.UUID, tuple[float, list[tuple[str, str, Arm]]]] = {}

    async def get(self, tenant_id: uuid.UUID, context_key: str) -> TenantArms:
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            return TenantArms.of(cached[1], context_key)
        async with tenant_session(self._sessions, tenant_id) as session:
            rows = await repository.all_arms(session)
        arms = [
            (
                row.context_key,
                row.tier,
                Arm(
                    successes=row.successes,
                    failures=row.failures,
                    cost_ratio_sum=row.cost_ratio_sum,
                    cost_observations=row.cost_observations,
                ),
            )
            for row in rows
        ]
        if self._ttl_s > 0:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[tenant_id] = (now + self._ttl_s, arms)
        return TenantArms.of(arms, context_key)


async def observe(session: AsyncSession, *, tenant_id: uuid.UUID, context_key: str, tier: str, success: bool) -> None:
    """Count one outcome on the arm (tenant, context, tier), in the caller's transaction."""
    await repository.add_observation(
        session,
        tenant_id=tenant_id,
        context_key=context_key,
        tier=tier,
        successes=1.0 if success else 0.0,
        failures=0.0 if success else 1.0,
        now=clock.now(),
    )


async def observe_cost(
    session: AsyncSession, *, tenant_id: uuid.UUID, context_key: str, tier: str, ratio: float
) -> None:
    """Count one observed/expected cost ratio on the arm (tenant, context, tier), in the caller's transaction."""
    await repository.add_observation(
        session,
        tenant_id=tenant_id,
        context_key=context_key,
        tier=tier,
        cost_ratio=ratio,
        cost_observations=1.0,
        now=clock.now(),
    )
