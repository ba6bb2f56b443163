"""Everything the gateway creates at start-up, handed to handlers through one typed object (`StateDep`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

import aiohttp
import redis.asyncio as redis_asyncio
from fastapi import Depends
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas.auth import AdminKeyResolver, ApiKeyResolver
from aiaas.deps import service_state
from aiaas.events import DurableEmitter
from aiaas.flags import FlagClient
from aiaas.resilience import BreakerRegistry
from aiaas.scopes import CHAT
from aiaas.service_callers import ServiceKeys, TenantKnown
from gateway.cache.service import CacheService
from gateway.callers import ServiceCallers
from gateway.catalog.service import Catalog
from gateway.chat.embedding import Embedder
from gateway.chat.service import ChatDeps
from gateway.config import GatewaySettings
from gateway.limits.service import RateLimiter
from gateway.providers.anthropic_adapter import AnthropicAdapter
from gateway.providers.failover import Failover
from gateway.routing.service import AutoRouter
from gateway.usage.meter import UsageMeter

__all__ = ["GatewayState", "StateDep"]

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
    # Platform services' credentials (GATEWAY_SERVICE_KEY_NAMES) and the tenants they name (gateway/callers.py).
    admin_keys: AdminKeyResolver
    tenants: TenantKnown
    limiter: RateLimiter
    catalog: Catalog
    breakers: BreakerRegistry
    failover: Failover
    emitter: DurableEmitter
    meter: UsageMeter
    # Live per-tenant feature flags from the control plane (streaming, max_tokens cap, model allowlist).
    flags: FlagClient
    # The response cache (gateway/cache); its endpoints work with GATEWAY_CACHE_ENABLED=false too.
    cache: CacheService
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # `model: "auto"` (gateway/routing); None when the auto alias is off.
    auto: AutoRouter | None = None
    # The request embedder (semantic cache, router); None when not loaded.
    embedder: Embedder | None = None
    # What POST /v1/chat/completions uses of all this (chat/service.py), gathered once.
    chat: ChatDeps = field(init=False)
    # Platform services acting for a tenant (the orchestrator's admin key): the chat route's and FastAPI's.
    service_keys: ServiceKeys = field(init=False)
    callers: ServiceCallers = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.service_keys = ServiceKeys(self.admin_keys, settings.service_keys, service="gateway", scope=CHAT)
        self.callers = ServiceCallers(self.service_keys, self.tenants)
        self.chat = ChatDeps(
            resolver=self.resolver,
            catalog=self.catalog,
            flags=self.flags,
            limiter=self.limiter,
            failover=self.failover,
            meter=self.meter,
            spawn=self.spawn,
            default_tenant_rpm=settings.default_tenant_rpm,
            default_tenant_tpm=settings.default_tenant_tpm,
            default_max_tokens_estimate=settings.default_max_tokens_estimate,
            request_deadline_s=settings.request_deadline_s,
            auto=self.auto,
            cache=self.cache if self.settings.cache_enabled else None,
            embedder=self.embedder,
        )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a fire-and-forget coroutine, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background task failed", exc_info=task.exception())


# The lifespan hands the state over with aiaas.deps.set_service_state.
StateDep = Annotated[GatewayState, Depends(service_state)]
