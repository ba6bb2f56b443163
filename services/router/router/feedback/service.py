"""Rewards: quality signals joined to decisions by decision id, counted once by the bandit.

`record_reward` stores a signal (unique per decision and signal id, so a redelivered usage event or a re-posted
feedback changes nothing) and, when its decision is already projected, adds it to the decision's arm. A signal
that comes first waits (`applied` false) until `apply_pending` runs as the decision lands. Both take the
decision's advisory lock, so neither can miss the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas import clock
from router import metrics
from router.bandit.service import observe
from router.decide import repository as decisions
from router.feedback import repository

__all__ = ["Applied", "RewardResult", "record_reward", "apply_pending", "record_metrics"]

Outcome = Literal["success", "failure"]
Source = Literal["feedback", "usage", "retry"]


@dataclass(frozen=True)
class Applied:
    """One reward the bandit counted (for the metrics, recorded after the commit)."""

    version: str
    outcome: str
    source: str
    misroute: bool
    context_key: str


@dataclass(frozen=True)
class RewardResult:
    recorded: bool
    applied: list[Applied] = field(default_factory=list)


async def _apply(
    session: AsyncSession, tenant_id: uuid.UUID, decision: Mapping[str, Any], signal_id: str, outcome: str, source: str
) -> Applied:
    await observe(
        session,
        tenant_id=tenant_id,
        context_key=decision["context_key"],
        tier=decision["tier"],
        success=outcome == "success",
    )
    await repository.mark_applied(session, decision["id"], signal_id)
    return Applied(
        version=decision["router_version"],
        outcome=outcome,
        source=source,
        misroute=outcome == "failure" and bool(decision["stronger_allowed"]),
        context_key=decision["context_key"],
    )


async def record_reward(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    decision_id: uuid.UUID,
    signal_id: str,
    outcome: Outcome,
    score: float | None,
    source: Source,
) -> RewardResult:
    """Store one signal and count it if its decision is known; a signal seen before changes nothing."""
    await repository.lock_decision(session, decision_id)
    inserted = await repository.insert_reward(
        session,
        tenant_id=tenant_id,
        decision_id=decision_id,
        signal_id=signal_id,
        outcome=outcome,
        score=score,
        source=source,
        now=clock.now(),
    )
    if not inserted:
        return RewardResult(recorded=False)
    decision = await decisions.decision_ref(session, decision_id)
    if decision is None:
        return RewardResult(recorded=True)
    return RewardResult(recorded=True, applied=[await _apply(session, tenant_id, decision, signal_id, outcome, source)])


async def apply_pending(session: AsyncSession, tenant_id: uuid.UUID, decision: Mapping[str, Any]) -> list[Applied]:
    """Count the signals that arrived before the decision (call under the decision's lock)."""
    return [
        await _apply(session, tenant_id, decision, signal_id, outcome, "pending")
        for signal_id, outcome in await repository.unapplied(session, decision["id"])
    ]


def record_metrics(applied: list[Applied]) -> None:
    for item in applied:
        metrics.record_reward(item.version, item.outcome, item.source, misroute=item.misroute)
