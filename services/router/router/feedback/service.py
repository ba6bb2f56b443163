"""Rewards: signals joined to decisions by decision id, counted once by the bandit.

`record_reward` stores a signal (unique per decision and signal id, so a redelivered usage event or a re-posted
feedback changes nothing) and, when its decision is already projected, adds it to the decision's arm. A signal
that comes first waits (`applied` false) until `apply_pending` runs as the decision lands. Both take the
decision's advisory lock, so neither can miss the other.

Kinds of signal:
- quality: `success` / `failure` from tenant feedback, a failed request (usage error), a retry on a stronger tier;
  a failure while a stronger tier was allowed is a misroute;
- latency: a `failure` (source `latency`) when a request was slower than the tenant's latency objective; it moves
  the arm like any failure but is no misroute (a slow answer is not a wrong one) and not a quality signal;
- cost: outcome `cost` with the metered `cost_usd`; the arm gains one ratio metered / the decision's estimate
  (router/bandit/rules.py cost_ratio; none when the estimate is 0). Neither success nor failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas import clock
from router import metrics
from router.bandit.rules import cost_ratio
from router.bandit.service import observe, observe_cost
from router.decide import repository as decisions
from router.feedback import repository

__all__ = [
    "Applied",
    "Outcome",
    "Source",
    "RewardResult",
    "QUALITY_SOURCES",
    "record_reward",
    "apply_pending",
    "record_metrics",
]

Outcome = Literal["success", "failure", "cost"]
Source = Literal["feedback", "usage", "retry", "latency", "cost"]
# Sources whose signals say whether an answer was good (the misroute rate's denominator).
QUALITY_SOURCES = frozenset({"feedback", "usage", "retry"})


@dataclass(frozen=True)
class Applied:
    """One reward the bandit counted (for the metrics, recorded after the commit)."""

    version: str
    outcome: str
    source: str
    misroute: bool
    context_key: str

    @property
    def quality(self) -> bool:
        return self.source in QUALITY_SOURCES


@dataclass(frozen=True)
class RewardResult:
    recorded: bool
    applied: list[Applied] = field(default_factory=list)


async def _apply(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    decision: Mapping[str, Any],
    *,
    signal_id: str,
    outcome: str,
    source: str,
    cost_usd: float | None,
) -> Applied:
    context, tier = str(decision["context_key"]), str(decision["tier"])
    if outcome == "cost":
        ratio = None if cost_usd is None else cost_ratio(cost_usd, float(decision["expected_cost_usd"]))
        if ratio is not None:
            await observe_cost(session, tenant_id=tenant_id, context_key=context, tier=tier, ratio=ratio)
    else:
        await observe(session, tenant_id=tenant_id, context_key=context, tier=tier, success=outcome == "success")
    await repository.mark_applied(session, decision["id"], signal_id)
    return Applied(
        version=decision["router_version"],
        outcome=outcome,
        source=source,
        misroute=outcome == "failure" and source in QUALITY_SOURCES and bool(decision["stronger_allowed"]),
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
    cost_usd: float | None = None,
) -> RewardResult:
    """Store one signal and count it if its decision is known; a signal seen before changes nothing.

    A cost signal (`outcome="cost"`, `source="cost"`) carries `cost_usd`; no other signal does."""
    if (outcome == "cost") != (cost_usd is not None) or (outcome == "cost") != (source == "cost"):
        raise ValueError("a cost signal (outcome and source 'cost') carries cost_usd, and only it")
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
        cost_usd=cost_usd,
    )
    if not inserted:
        return RewardResult(recorded=False)
    decision = await decisions.decision_ref(session, decision_id)
    if decision is None:
        return RewardResult(recorded=True)
    applied = await _apply(
        session, tenant_id, decision, signal_id=signal_id, outcome=outcome, source=source, cost_usd=cost_usd
    )
    return RewardResult(recorded=True, applied=[applied])


async def apply_pending(session: AsyncSession, tenant_id: uuid.UUID, decision: Mapping[str, Any]) -> list[Applied]:
    """Count the signals that arrived before the decision (call under the decision's lock)."""
    return [
        await _apply(
            session,
            tenant_id,
            decision,
            signal_id=pending.signal_id,
            outcome=pending.outcome,
            source=pending.source,
            cost_usd=pending.cost_usd,
        )
        for pending in await repository.unapplied(session, decision["id"])
    ]


def record_metrics(applied: list[Applied]) -> None:
    for item in applied:
        metrics.record_reward(item.version, item.outcome, item.source, misroute=item.misroute, quality=item.quality)
