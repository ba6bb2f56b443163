"""Everything the realtime service creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis_asyncio
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncEngine

from aiaas.auth import ApiKeyResolver
from aiaas.flags import FlagClient
from realtime.config import RealtimeSettings
from realtime.live_log import LiveLog
from realtime.registry import ConnectionRegistry
from realtime.responder import Responder
from realtime.store import EventStore
from realtime.tenant_limit import TenantConnectionLimit
from realtime.tickets import TicketStore

__all__ = ["RealtimeState"]


@dataclass
class RealtimeState:
    settings: RealtimeSettings
    engine: AsyncEngine
    redis: redis_asyncio.Redis
    nats: NatsClient
    resolver: ApiKeyResolver
    store: EventStore
    live: LiveLog
    responder: Responder
    limit: TenantConnectionLimit
    registry: ConnectionRegistry
    # Live per-tenant flags from the control plane (`realtime_enabled`).
    flags: FlagClient
    tickets: TicketStore
