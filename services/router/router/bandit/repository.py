"""SQL of `router_bandit_arms` (RLS: the session is bound to the tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["arms_of_context", "all_arms", "add_observation"]


async def arms_of_context(session: AsyncSession, context_key: str) -> list[tuple[str, float, float]]:
    """(tier, successes, failures) of the tenant's arms in one context."""
    result = await session.execute(
        text("select tier, successes, failures from router_bandit_arms where context_key = :ctx"),
        {"ctx": context_key},
    )
    return [(str(tier), float(s), float(f)) for tier, s, f in result.tuples()]


async def all_arms(session: AsyncSession) -> list[tuple[str, str, float, float, datetime]]:
    """(context_key, tier, successes, failures, updated_at) of every arm of the tenant, ordered."""
    result = await session.execute(
        text(
            "select context_key, tier, successes, failures, updated_at from router_bandit_arms "
            "order by context_key, tier"
        )
    )
    return [(str(ctx), str(tier), float(s), float(f), at) for ctx, tier, s, f, at in result.tuples()]


async def add_observation(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    context_key: str,
    tier: str,
    successes: float,
    failures: float,
    now: datetime,
) -> None:
    await session.execute(
        text(
            "insert into router_bandit_arms (tenant_id, context_key, tier, successes, failures, updated_at) "
            "values (:tid, :ctx, :tier, :s, :f, :now) "
            "on conflict (tenant_id, context_key, tier) do update set "
            "successes = router_bandit_arms.successes + excluded.successes, "
            "failures = router_bandit_arms.failures + excluded.failures, updated_at = excluded.updated_at"
        ),
        {"tid": tenant_id, "ctx": context_key, "tier": tier, "s": successes, "f": failures, "now": now},
    )
