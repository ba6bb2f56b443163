"""Everything the gateway creates at start-up, handed to handlers through one typed object."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis.asyncio as redis_asyncio
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import ApiKeyResolver
from aiaas.events import DurableEmitter
from aiaas.flags import FlagClient
from aiaas.resilience import BreakerRegistry
from gateway.catalog import Catalog
from gateway.config import GatewaySettings
from gateway.failover import Failover
from gateway.metering import UsageMeter
from gateway.providers.anthropic_adapter import AnthropicAdapter
from gateway.rate_limit import RateLimiter

__all__ = ["GatewayState"]

log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    settings: GatewaySettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    nats: NatsClient
    redis: redis_asyncio.Redis
    http: aiohttp.ClientSession
    anthropic: AnthropicAdapter
    resolver: ApiKeyResolver
    limiter: RateLimiter
    catalog: Catalog
    breakers: BreakerRegistry
    failover: Failover
    emitter: DurableEmitter
    meter: UsageMeter
    # Live per-tenant feature flags from the control plane (streaming, max_tokens cap, model allowlist).
    flags: FlagClient
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a fire-and-forget coroutine, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background task failed", exc_info=task.exception())
