"""The policy in force for a tenant, read through a short per-process cache (refreshed ahead), and its replacement."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from router.config import RouterSettings
from router.policy import repository
from router.policy.schemas import Policy, PolicyIn, TierSpec
from router.tenant_cache import TenantCache

__all__ = ["platform_policy", "policy_from_row", "PolicyStore", "latency_slo"]


def platform_policy(settings: RouterSettings) -> Policy:
    """The policy of a tenant that set none: the configured platform default."""
    return Policy(
        tiers=[
            TierSpec(name=t.name, alias=t.alias, price_usd_per_1k=t.price_usd_per_1k) for t in settings.default_tiers
        ],
        lambda_=settings.default_lambda,
        max_cost_usd=settings.default_max_cost_usd,
        exploration_cap=settings.default_exploration_cap,
        early_exit_bar=settings.default_early_exit_bar,
        latency_slo_ms=settings.default_latency_slo_ms,
        source="platform",
    )


def policy_from_row(row: Mapping[str, Any]) -> Policy:
    return Policy(
        tiers=[TierSpec.model_validate(tier) for tier in row["tiers"]],
        lambda_=row["lambda"],
        max_cost_usd=row["max_cost_usd"],
        exploration_cap=row["exploration_cap"],
        early_exit_bar=row["early_exit_bar"],
        pinned_tier=row["pinned_tier"],
        canary_share=row["canary_share"],
        latency_slo_ms=row["latency_slo_ms"],
        source="tenant",
        updated_at=row["updated_at"],
    )


class PolicyStore:
    """Tenants' policies, each reused for `ttl_s` seconds by this process (0 = read every time; router/tenant_cache)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: RouterSettings) -> None:
        self._sessions = sessions
        self._default = platform_policy(settings)
        self._cache: TenantCache[Policy] = TenantCache(self._read_for, settings.state_cache_ttl_s)

    async def get(self, tenant_id: uuid.UUID) -> Policy:
        return await self._cache.get(tenant_id)

    async def read(self, session: AsyncSession) -> Policy:
        """The policy in force for the session's tenant."""
        row = await repository.policy_row(session)
        return self._default if row is None else policy_from_row(row)

    async def replace(self, session: AsyncSession, tenant_id: uuid.UUID, policy: PolicyIn) -> Policy:
        values = policy.model_dump(mode="json", by_alias=True)
        row = await repository.upsert_policy(session, tenant_id, values, clock.now())
        stored = policy_from_row(row)
        self._cache.forget(tenant_id)
        return stored

    async def close(self) -> None:
        await self._cache.close()

    async def _read_for(self, tenant_id: uuid.UUID) -> Policy:
        async with tenant_session(self._sessions, tenant_id) as session:
            return await self.read(session)


async def latency_slo(session: AsyncSession, platform_default: int | None) -> int | None:
    """The session's tenant's latency objective in ms: its policy's (null = none), or the platform default."""
    row = await repository.policy_row(session)
    if row is None:
        return platform_default
    value = row["latency_slo_ms"]
    return None if value is None else int(value)
