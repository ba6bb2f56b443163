"""FastAPI dependencies: the gateway state and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, verify_admin_bearer
from gateway.state import GatewayState

__all__ = ["StateDep", "PrincipalDep", "AdminDep"]


async def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway  # type: ignore[no-any-return]


StateDep = Annotated[GatewayState, Depends(get_state)]


async def get_principal(request: Request, state: StateDep) -> Principal:
    # Read the header directly: a `Header()` parameter costs FastAPI a model-type probe per request.
    return await state.resolver.resolve(request.headers.get("authorization"))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(request: Request, state: StateDep) -> None:
    # GATEWAY_ADMIN_KEY, else the platform-wide PLATFORM_ADMIN_KEY every service accepts.
    settings = state.settings
    verify_admin_bearer(request.headers.get("authorization"), settings.admin_key or settings.platform_admin_key)


AdminDep = Depends(require_admin)
