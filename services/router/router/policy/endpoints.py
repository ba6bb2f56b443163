"""GET/PUT /v1/router/policy (the tenant's routing policy) and GET /v1/router/bandit (its arms)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from aiaas.auth import Principal
from aiaas.deps import TenantSessionDep, require_scope
from aiaas.scopes import ROUTER
from router.bandit import repository as bandit_repository
from router.bandit.schemas import BanditArm, BanditArms
from router.policy.schemas import Policy, PolicyIn
from router.state import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/router", tags=["router"])
_Caller = Annotated[Principal, require_scope(ROUTER)]


@router.get("/policy")
async def get_policy(_principal: _Caller, session: TenantSessionDep, state: StateDep) -> Policy:
    """The policy in force: the tenant's own (`source: tenant`) or the platform default (`source: platform`)."""
    return await state.policies.read(session)


@router.put("/policy")
async def put_policy(principal: _Caller, body: PolicyIn, session: TenantSessionDep, state: StateDep) -> Policy:
    """Replace the tenant's policy (every field); other router processes see it within ROUTER_STATE_CACHE_TTL_S."""
    return await state.policies.replace(session, principal.tenant_id, body)


@router.get("/bandit")
async def get_bandit(_principal: _Caller, session: TenantSessionDep) -> BanditArms:
    """What the bandit has observed per context (primary domain) and tier: outcomes and cost ratios."""
    rows = await bandit_repository.all_arms(session)
    return BanditArms(
        data=[
            BanditArm(
                context_key=row.context_key,
                tier=row.tier,
                successes=row.successes,
                failures=row.failures,
                metered_ratio_sum=row.cost_ratio_sum,
                metered_count=row.cost_observations,
                updated_at=row.updated_at,
            )
            for row in rows
        ]
    )
