"""FastAPI dependencies: the control-plane state, the platform admin, the actor of a change."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import AdminDep, AdminPrincipalDep
from control_plane.state import ControlPlaneState

__all__ = ["StateDep", "AdminDep", "ActorDep"]


async def get_state(request: Request) -> ControlPlaneState:
    return request.app.state.control_plane  # type: ignore[no-any-return]


StateDep = Annotated[ControlPlaneState, Depends(get_state)]


async def get_actor(admin: AdminPrincipalDep) -> str:
    """Who made the change: the name of the admin key that called (never a header the caller writes)."""
    return admin.name


ActorDep = Annotated[str, Depends(get_actor)]
