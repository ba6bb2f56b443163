"""Everything the realtime service creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as redis_asyncio
from fastapi import Depends
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from aiaas.auth import ApiKeyResolver
from aiaas.deps import service_state
from aiaas.flags import FlagClient
from realtime.config import RealtimeSettings
from realtime.connection.registry import ConnectionRegistry
from realtime.connection.repository import TenantConnectionLimit
from realtime.conversations.service import ConversationService
from realtime.tickets.service import TicketService

__all__ = ["RealtimeState", "StateDep", "realtime_state"]


@dataclass
class RealtimeState:
    settings: RealtimeSettings
    engine: AsyncEngine
    # Sessions of the RLS-bound runtime role (`TenantSessionDep` opens the caller's transaction on them).
    sessions: async_sessionmaker[AsyncSession]
    redis: redis_asyncio.Redis
    nats: NatsClient
    resolver: ApiKeyResolver
    conversations: ConversationService
    limit: TenantConnectionLimit
    registry: ConnectionRegistry
    # Live per-tenant flags from the control plane (`realtime_enabled`).
    flags: FlagClient
    tickets: TicketService


def realtime_state(conn: HTTPConnection) -> RealtimeState:
    """The state of the app serving `conn` (the WebSocket path, which FastAPI's dependencies do not serve)."""
    state = service_state(conn)
    assert isinstance(state, RealtimeState)
    return state


StateDep = Annotated[RealtimeState, Depends(service_state)]
