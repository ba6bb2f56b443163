"""FastAPI dependencies: the gateway state, the calling tenant (per scope), the platform admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, require_scope, verify_admin_bearer
from aiaas.scopes import CHAT
from gateway.state import GatewayState

__all__ = ["StateDep", "ChatDep", "AdminDep"]


async def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway  # type: ignore[no-any-return]


StateDep = Annotated[GatewayState, Depends(get_state)]


# POST /v1/chat/completions checks the same scope in its ASGI endpoint (chat/asgi_endpoint.py).
ChatDep = Annotated[Principal, require_scope(CHAT)]


async def require_admin(request: Request, state: StateDep) -> None:
    # GATEWAY_ADMIN_KEY, else the platform-wide PLATFORM_ADMIN_KEY every service accepts.
    settings = state.settings
    verify_admin_bearer(request.headers.get("authorization"), settings.admin_key or settings.platform_admin_key)


AdminDep = Depends(require_admin)
