"""SQL of `router_rewards` and the per-decision lock (RLS: the session is bound to the tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Pending", "lock_decision", "insert_reward", "unapplied", "mark_applied"]


@dataclass(frozen=True)
class Pending:
    """A stored signal the bandit has not counted yet."""

    signal_id: str
    outcome: str
    source: str
    cost_usd: float | None


async def lock_decision(session: AsyncSession, decision_id: uuid.UUID) -> None:
    """Serialise the writers of one decision's rewards and its projection until the transaction ends."""
    await session.execute(text("select pg_advisory_xact_lock(hashtextextended(:key, 14))"), {"key": str(decision_id)})


async def insert_reward(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    decision_id: uuid.UUID,
    signal_id: str,
    outcome: str,
    score: float | None,
    source: str,
    now: datetime,
    cost_usd: float | None = None,
) -> bool:
    """Store the signal; False when (decision, signal) is already there (a redelivery changes nothing)."""
    result = await session.execute(
        text(
            "insert into router_rewards (tenant_id, decision_id, signal_id, outcome, score, source, created_at,"
            " cost_usd) values (:tid, :did, :sig, :outcome, :score, :source, :now, :cost) "
            "on conflict (tenant_id, decision_id, signal_id) do nothing returning 1"
        ),
        {
            "tid": tenant_id,
            "did": decision_id,
            "sig": signal_id,
            "outcome": outcome,
            "score": score,
            "source": source,
            "now": now,
            "cost": cost_usd,
        },
    )
    return result.first() is not None


async def unapplied(session: AsyncSession, decision_id: uuid.UUID) -> list[Pending]:
    """The decision's rewards the bandit has not counted yet, oldest first."""
    result = await session.execute(
        text(
            "select signal_id, outcome, source, cost_usd from router_rewards where decision_id = :did and not applied "
            "order by created_at, signal_id"
        ),
        {"did": decision_id},
    )
    return [
        Pending(str(signal_id), str(outcome), str(source), None if cost is None else float(cost))
        for signal_id, outcome, source, cost in result.tuples()
    ]


async def mark_applied(session: AsyncSession, decision_id: uuid.UUID, signal_id: str) -> None:
    await session.execute(
        text("update router_rewards set applied = true where decision_id = :did and signal_id = :sig"),
        {"did": decision_id, "sig": signal_id},
    )
