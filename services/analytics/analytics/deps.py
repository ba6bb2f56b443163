"""FastAPI dependencies: the API state, the tenant principal, the platform-admin check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, verify_admin_bearer
from analytics.state import AnalyticsState

__all__ = ["StateDep", "PrincipalDep", "AdminDep"]


async def get_state(request: Request) -> AnalyticsState:
    return request.app.state.analytics  # type: ignore[no-any-return]


StateDep = Annotated[AnalyticsState, Depends(get_state)]


async def get_principal(request: Request, state: StateDep) -> Principal:
    """Any active API key of a tenant may read that tenant's analytics."""
    return await state.resolver.resolve(request.headers.get("authorization"))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(request: Request, state: StateDep) -> None:
    # ANALYTICS_ADMIN_KEY, else the platform-wide PLATFORM_ADMIN_KEY every service accepts.
    settings = state.settings
    verify_admin_bearer(request.headers.get("authorization"), settings.admin_key or settings.platform_admin_key)


AdminDep = Depends(require_admin)
