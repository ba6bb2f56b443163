"""The bandit's state in Postgres: arms read through a short per-process cache (refreshed ahead), observations
(outcomes and cost ratios) added in the caller's tenant transaction (so a reward and its arm update commit together)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from router.bandit import repository
from router.bandit.rules import Arm, TenantArms
from router.tenant_cache import TenantCache

__all__ = ["ArmStore", "observe", "observe_cost"]


class ArmStore:
    """A tenant's arms (every context: a few dozen rows), reused for `ttl_s` seconds (0 = read every decision;
    router/tenant_cache)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self._sessions = sessions
        self._cache: TenantCache[list[tuple[str, str, Arm]]] = TenantCache(self._read, ttl_s)

    async def get(self, tenant_id: uuid.UUID, context_key: str) -> TenantArms:
        return TenantArms.of(await self._cache.get(tenant_id), context_key)

    async def close(self) -> None:
        await self._cache.close()

    async def _read(self, tenant_id: uuid.UUID) -> list[tuple[str, str, Arm]]:
        async with tenant_session(self._sessions, tenant_id) as session:
            rows = await repository.all_arms(session)
        return [
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
