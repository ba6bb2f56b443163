"""FastAPI dependencies: the API state, the calling tenant (scope analytics:read), the platform admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import AdminDep, Principal, require_scope
from aiaas.scopes import ANALYTICS_READ
from analytics.state import AnalyticsAdminState, AnalyticsState

__all__ = ["StateDep", "AdminStateDep", "AnalyticsReadDep", "AdminDep"]


async def get_state(request: Request) -> AnalyticsState:
    return request.app.state.analytics  # type: ignore[no-any-return]


StateDep = Annotated[AnalyticsState, Depends(get_state)]


async def get_admin_state(request: Request) -> AnalyticsAdminState:
    """The admin listener's state (analytics/admin.py): the tenant API has no platform_admin engine."""
    return request.app.state.analytics  # type: ignore[no-any-return]


AdminStateDep = Annotated[AnalyticsAdminState, Depends(get_admin_state)]
AnalyticsReadDep = Annotated[Principal, require_scope(ANALYTICS_READ)]
