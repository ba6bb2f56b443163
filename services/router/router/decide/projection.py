"""`router.decision.made` -> a `router_decisions` row, the signals that waited for it, and retries.

Idempotent by decision id: a redelivered event inserts nothing and changes nothing. When the decision is new:
rewards that arrived before it are counted now, and if the same messages were decided earlier (within
`retry_window_s`) on a cheaper tier, this request is a retry on a stronger tier: a failure of the earlier one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events import EventEnvelope
from aiaas.events.schemas import RouterDecisionMade
from router.decide import repository
from router.feedback import repository as rewards
from router.feedback.service import Applied, apply_pending, record_reward

__all__ = ["project_decision", "retry_signal"]


def retry_signal(decision_id: uuid.UUID) -> str:
    """The signal id a retry by `decision_id` gives the decision it retried."""
    return f"retry:{decision_id}"


def _rank(tier: str, order: list[str]) -> int | None:
    return order.index(tier) if tier in order else None


async def project_decision(session: AsyncSession, event: EventEnvelope, *, retry_window_s: float) -> list[Applied]:
    """Store the decision of `event` in the session's (its tenant's) transaction; the rewards it made count."""
    data = RouterDecisionMade.model_validate(event.data)
    await rewards.lock_decision(session, data.decision_id)
    values = data.model_dump(mode="python", exclude={"decision_id"})
    inserted = await repository.insert_decision(
        session, {**values, "id": data.decision_id, "tenant_id": event.tenant_id, "created_at": event.occurred_at}
    )
    if not inserted:
        return []
    decision = await repository.decision_ref(session, data.decision_id)
    if decision is None:
        return []
    applied = await apply_pending(session, event.tenant_id, decision)
    if retry_window_s > 0:
        earlier = await repository.earlier_attempt(
            session,
            request_hash=data.request_hash,
            decision_id=data.decision_id,
            since=event.occurred_at - timedelta(seconds=retry_window_s),
            until=event.occurred_at,
        )
        if earlier is not None:
            order = list(earlier["allowed"]) if data.tier in earlier["allowed"] else data.allowed
            first, again = _rank(earlier["tier"], order), _rank(data.tier, order)
            if first is not None and again is not None and again > first:
                result = await record_reward(
                    session,
                    tenant_id=event.tenant_id,
                    decision_id=earlier["id"],
                    signal_id=retry_signal(data.decision_id),
                    outcome="failure",
                    score=None,
                    source="retry",
                )
                applied += result.applied
    return applied
