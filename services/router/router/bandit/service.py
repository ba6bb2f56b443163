"""The bandit's state in Postgres: arms read through a short per-process cache, observations added in the
caller's tenant transaction (so a reward and its arm update commit together)."""

from __future__ import annotations

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from router.bandit import repository
from router.bandit.rules import Arm

__all__ = ["ArmStore", "observe"]

_MAX_CACHED = 100_000


class ArmStore:
    """A tenant's arms in one context, each set reused for `ttl_s` seconds (0 = read every decision)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._cache: dict[tuple[uuid.UUID, str], tuple[float, dict[str, Arm]]] = {}

    async def get(self, tenant_id: uuid.UUID, context_key: str) -> dict[str, Arm]:
        now = time.monotonic()
        key = (tenant_id, context_key)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with tenant_session(self._sessions, tenant_id) as session:
            rows = await repository.arms_of_context(session, context_key)
        arms = {tier: Arm(successes=s, failures=f) for tier, s, f in rows}
        if self._ttl_s > 0:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (now + self._ttl_s, arms)
        return arms

    def forget(self, tenant_id: uuid.UUID, context_key: str) -> None:
        self._cache.pop((tenant_id, context_key), None)


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
