"""Dependencies: the service state created in lifespan, the calling tenant (scope realtime)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from aiaas.auth import Principal, require_scope
from aiaas.scopes import REALTIME
from realtime.state import RealtimeState

__all__ = ["StateDep", "RealtimeDep", "get_state"]


def get_state(conn: HTTPConnection) -> RealtimeState:
    state: RealtimeState = conn.app.state.realtime
    return state


StateDep = Annotated[RealtimeState, Depends(get_state)]
# HTTP routes; the WebSocket checks the same scope in realtime.endpoint (no FastAPI on that path).
RealtimeDep = Annotated[Principal, require_scope(REALTIME)]
