"""FastAPI dependencies: the billing state, the calling tenant, the platform admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, verify_admin_bearer
from billing.state import BillingState

__all__ = ["StateDep", "PrincipalDep", "AdminDep"]


async def get_state(request: Request) -> BillingState:
    return request.app.state.billing  # type: ignore[no-any-return]


StateDep = Annotated[BillingState, Depends(get_state)]


async def get_principal(request: Request, state: StateDep) -> Principal:
    return await state.resolver.resolve(request.headers.get("authorization"))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(request: Request, state: StateDep) -> None:
    verify_admin_bearer(request.headers.get("authorization"), state.settings.platform_admin_key)


AdminDep = Depends(require_admin)
