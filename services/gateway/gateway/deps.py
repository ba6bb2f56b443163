"""FastAPI dependencies: the gateway state and the authenticated principal."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal
from aiaas.errors import Forbidden, Unauthorized
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
    authorization = request.headers.get("authorization")
    expected = state.settings.admin_key
    if not expected:
        raise Forbidden("The admin API is disabled: set GATEWAY_ADMIN_KEY.", code="admin_disabled")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("A platform-admin key is required.", code="invalid_admin_key")


AdminDep = Depends(require_admin)
