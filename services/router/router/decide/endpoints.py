"""POST /v1/router/decide (tenant key or the gateway's service key) and the tenant's recent decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aiaas.auth import Principal
from aiaas.deps import TenantSessionDep, require_scope
from aiaas.scopes import ROUTER
from router.callers import CallerDep
from router.decide import repository
from router.decide.schemas import DecideRequest, DecideResponse, RecentDecision, RecentDecisions
from router.decide.service import decide
from router.state import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/router", tags=["router"])


@router.post("/decide")
async def post_decide(body: DecideRequest, caller: CallerDep, state: StateDep) -> DecideResponse:
    """The tier (and its gateway alias) for one chat request, with the p per tier and why."""
    return await decide(state, caller.tenant_id, body)


@router.get("/decisions")
async def recent_decisions(
    _principal: Annotated[Principal, require_scope(ROUTER)],
    session: TenantSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecentDecisions:
    """The tenant's latest recorded decisions, newest first (recorded by the consumer, so a moment late)."""
    rows = await repository.recent_decisions(session, limit)
    return RecentDecisions(data=[RecentDecision.model_validate(dict(row)) for row in rows])
