"""Dependencies: the service state created in lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from realtime.state import RealtimeState

__all__ = ["StateDep", "get_state"]


def get_state(conn: HTTPConnection) -> RealtimeState:
    state: RealtimeState = conn.app.state.realtime
    return state


StateDep = Annotated[RealtimeState, Depends(get_state)]
