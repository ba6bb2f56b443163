"""SQL of `router_bandit_arms` (RLS: the session is bound to the tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["ArmRow", "all_arms", "add_observation"]


@dataclass(frozen=True)
class ArmRow:
    context_key: str
    tier: str
    successes: float
    failures: float
    cost_ratio_sum: float
    cost_observations: float
    updated_at: datetime


_COLS = "context_key, tier, successes, failures, cost_ratio_sum, cost_observations, updated_at"


def _row(row: RowMapping) -> ArmRow:
    return ArmRow(
        context_key=str(row["context_key"]),
        tier=str(row["tier"]),
        successes=float(row["successes"]),
        failures=float(row["failures"]),
        cost_ratio_sum=float(row["cost_ratio_sum"]),
        cost_observations=float(row["cost_observations"]),
        updated_at=row["updated_at"],
    )


async def all_arms(session: AsyncSession) -> list[ArmRow]:
    """Every arm of the tenant, ordered by context and tier."""
    result = await session.execute(
        text(f"select {_COLS} from router_bandit_arms order by context_key, tier")  # noqa: S608  # nosec B608
    )
    return [_row(row) for row in result.mappings()]


async def add_observation(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    context_key: str,
    tier: str,
    successes: float = 0.0,
    failures: float = 0.0,
    cost_ratio: float = 0.0,
    cost_observations: float = 0.0,
    now: datetime,
) -> None:
    """Add to the arm's counts (creating it at zero)."""
    await session.execute(
        text(
            "insert into router_bandit_arms (tenant_id, context_key, tier, successes, failures, cost_ratio_sum,"
            " cost_observations, updated_at) values (:tid, :ctx, :tier, :s, :f, :r, :n, :now) "
            "on conflict (tenant_id, context_key, tier) do update set "
            "successes = router_bandit_arms.successes + excluded.successes, "
            "failures = router_bandit_arms.failures + excluded.failures, "
            "cost_ratio_sum = router_bandit_arms.cost_ratio_sum + excluded.cost_ratio_sum, "
            "cost_observations = router_bandit_arms.cost_observations + excluded.cost_observations, "
            "updated_at = excluded.updated_at"
        ),
        {
            "tid": tenant_id,
            "ctx": context_key,
            "tier": tier,
            "s": successes,
            "f": failures,
            "r": cost_ratio,
            "n": cost_observations,
            "now": now,
        },
    )
