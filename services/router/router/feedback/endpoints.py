"""POST /v1/feedback: a tenant's app says how a routed answer went."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from aiaas.auth import Principal
from aiaas.deps import TenantSessionDep, require_scope
from aiaas.scopes import ROUTER
from router.feedback.schemas import FeedbackIn, FeedbackOut
from router.feedback.service import record_metrics, record_reward

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["router"])


@router.post("/feedback")
async def post_feedback(
    body: FeedbackIn, principal: Annotated[Principal, require_scope(ROUTER)], session: TenantSessionDep
) -> FeedbackOut:
    """Record a success or failure of one decision; the same (decision_id, signal_id) again changes nothing."""
    result = await record_reward(
        session,
        tenant_id=principal.tenant_id,
        decision_id=body.decision_id,
        signal_id=body.signal_id,
        outcome=body.outcome,
        score=body.score,
        source="feedback",
    )
    record_metrics(result.applied)
    return FeedbackOut(
        decision_id=body.decision_id, signal_id=body.signal_id, recorded=result.recorded, applied=bool(result.applied)
    )
