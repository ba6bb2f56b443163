"""FastAPI dependencies: the control-plane state, the platform admin, the actor of a change."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from aiaas.auth import verify_admin_bearer
from aiaas.errors import BadRequest
from control_plane.state import ControlPlaneState

__all__ = ["StateDep", "AdminDep", "ActorDep"]

_MAX_ACTOR = 200


async def get_state(request: Request) -> ControlPlaneState:
    return request.app.state.control_plane  # type: ignore[no-any-return]


StateDep = Annotated[ControlPlaneState, Depends(get_state)]


async def require_admin(request: Request, state: StateDep) -> None:
    verify_admin_bearer(request.headers.get("authorization"), state.settings.platform_admin_key)


AdminDep = Depends(require_admin)


async def get_actor(x_actor: Annotated[str | None, Header()] = None) -> str:
    """Who made the change: the `X-Actor` header, else "platform-admin"."""
    actor = (x_actor or "").strip() or "platform-admin"
    if len(actor) > _MAX_ACTOR or not actor.isprintable():
        raise BadRequest(f"X-Actor must be at most {_MAX_ACTOR} printable characters.", code="invalid_actor")
    return actor


ActorDep = Annotated[str, Depends(get_actor)]
