"""FastAPI dependencies: the API state, the calling tenant (scope analytics:read), the platform-admin check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, require_scope, verify_admin_bearer
from aiaas.scopes import ANALYTICS_READ
from analytics.state import AnalyticsState

__all__ = ["StateDep", "AnalyticsReadDep", "AdminDep"]


async def get_state(request: Request) -> AnalyticsState:
    return request.app.state.analytics  # type: ignore[no-any-return]


StateDep = Annotated[AnalyticsState, Depends(get_state)]
AnalyticsReadDep = Annotated[Principal, require_scope(ANALYTICS_READ)]


async def require_admin(request: Request, state: StateDep) -> None:
    # ANALYTICS_ADMIN_KEY, else the platform-wide PLATFORM_ADMIN_KEY every service accepts.
    settings = state.settings
    verify_admin_bearer(request.headers.get("authorization"), settings.admin_key or settings.platform_admin_key)


AdminDep = Depends(require_admin)
