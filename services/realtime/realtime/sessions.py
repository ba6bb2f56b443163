"""`POST /v1/realtime/sessions`: trade the API key (server side) for a connection ticket a browser may put in a URL."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from aiaas.errors import ServiceUnavailable
from realtime.deps import RealtimeDep, StateDep
from realtime.endpoint import WS_PATH
from realtime.metrics import TICKETS_ISSUED

__all__ = ["router", "RealtimeSession"]

router = APIRouter(tags=["realtime"])


class RealtimeSession(BaseModel):
    ticket: str = Field(
        description="Single-use connection ticket: open the WebSocket with `?ticket=<ticket>` before `expires_at`."
    )
    expires_at: datetime = Field(description="When the ticket stops opening sockets (UTC).")
    expires_in: int = Field(description="Seconds from now until `expires_at`.")
    url: str = Field(description="The WebSocket URL with the ticket in it, ready for `new WebSocket(url)`.")


def _ws_url(request: Request, public_ws_url: str, ticket: str) -> str:
    """`public_ws_url` when configured (behind a proxy or TLS terminator), else this request's host."""
    base = public_ws_url.rstrip("/")
    if not base:
        scheme = "wss" if request.url.scheme == "https" else "ws"
        base = f"{scheme}://{request.url.netloc}{WS_PATH}"
    return f"{base}?ticket={ticket}"


@router.post(
    "/v1/realtime/sessions",
    status_code=201,
    response_model=RealtimeSession,
    summary="Create a realtime connection ticket",
    description=(
        "Call with the API key (`Authorization: Bearer`, scope `realtime`) from your server; hand the ticket to "
        "the browser. The ticket opens one WebSocket, within `REALTIME_TICKET_TTL_S` (60 s), and that socket "
        "acts as the key that created it. Used, expired or unknown tickets are refused with close code 4401."
    ),
)
async def create_session(request: Request, state: StateDep, principal: RealtimeDep) -> RealtimeSession:
    # require_scope resolved this very header, so the token is the key of `principal`.
    api_key = request.headers["authorization"].partition(" ")[2].strip()
    try:
        issued = await state.tickets.issue(principal, api_key)
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable("Tickets are unavailable right now; retry.", code="service_unavailable") from exc
    TICKETS_ISSUED.inc()
    return RealtimeSession(
        ticket=issued.ticket,
        expires_at=issued.expires_at,
        expires_in=round(state.tickets.ttl_s),
        url=_ws_url(request, state.settings.public_ws_url, issued.ticket),
    )
