"""FastAPI dependencies: the gateway state and the calling tenant (per scope). No admin routes live here."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiaas.auth import Principal, require_scope
from aiaas.scopes import CHAT
from gateway.state import GatewayState

__all__ = ["StateDep", "ChatDep"]


async def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway  # type: ignore[no-any-return]


StateDep = Annotated[GatewayState, Depends(get_state)]


# POST /v1/chat/completions checks the same scope in its ASGI endpoint (chat/asgi_endpoint.py).
ChatDep = Annotated[Principal, require_scope(CHAT)]
