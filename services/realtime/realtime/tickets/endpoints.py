"""`POST /v1/realtime/sessions`: trade the API key (server side) for a connection ticket a browser may put in a URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError

from aiaas.auth import Principal
from aiaas.deps import TenantSessionDep, require_scope
from aiaas.errors import ServiceUnavailable
from aiaas.scopes import REALTIME
from realtime.connection.schemas import WS_PATH
from realtime.metrics import TICKETS_ISSUED
from realtime.state import StateDep
from realtime.tickets.schemas import RealtimeSession

__all__ = ["router"]

router = APIRouter(tags=["realtime"])

RealtimeDep = Annotated[Principal, require_scope(REALTIME)]


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
async def create_session(
    request: Request, state: StateDep, principal: RealtimeDep, session: TenantSessionDep
) -> RealtimeSession:
    # require_scope resolved this very header, so the token is the key of `principal`.
    api_key = request.headers["authorization"].partition(" ")[2].strip()
    try:
        issued = await state.tickets.issue(session, principal, api_key)
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable("Tickets are unavailable right now; retry.", code="service_unavailable") from exc
    TICKETS_ISSUED.inc()
    return RealtimeSession(
        ticket=issued.ticket,
        expires_at=issued.expires_at,
        expires_in=round(state.tickets.ttl_s),
        url=_ws_url(request, state.settings.public_ws_url, issued.ticket),
    )
