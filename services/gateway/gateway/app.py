"""Builds the gateway FastAPI app; every resource is born in `lifespan`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import nats
import redis.asyncio as redis_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from aiaas.auth import AdminKeyResolver, ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.events import DurableEmitter, EventPublisher, ensure_topology
from aiaas.flags import FlagClient
from aiaas.observability.metrics import record_breaker_state
from aiaas.resilience import BreakerConfig, BreakerRegistry
from aiaas.service_app import ServiceApp, service_app
from aiaas.service_callers import TenantKnown, accept_service_keys
from gateway.cache.endpoints import router as cache_router
from gateway.cache.service import CacheService
from gateway.catalog.registry import ModelRegistry
from gateway.catalog.service import load_catalog
from gateway.chat.embedding import load_embedder
from gateway.chat.endpoints import ChatCompletions
from gateway.chat.endpoints import router as chat_router
from gateway.config import GatewaySettings
from gateway.health import router as health_router
from gateway.limits.service import RateLimiter
from gateway.providers.anthropic_adapter import AnthropicAdapter
from gateway.providers.credentials import ProviderCredentials
from gateway.providers.failover import Failover
from gateway.providers.openai_passthrough import OpenAIPassthrough
from gateway.routing.service import build_auto_router
from gateway.state import GatewayState
from gateway.usage.meter import UsageMeter

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _tune_gc() -> None:
    """Keep the cyclic GC off the ~300k objects start-up created, and run it less often.

    Requests make almost no reference cycles, yet with the default thresholds the collector ran a
    full pass over every module, model and client object a few times a second: ~20 % of the CPU at
    load (benchmarks/README.md). Frozen objects are never collected, so freeze only after start-up.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: GatewaySettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="gateway")
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="gateway")
    js = nc.jetstream()
    await ensure_topology(js, consumers=())
    # A blocking pool waits for a free connection instead of failing under bursts.
    redis = redis_asyncio.Redis(
        connection_pool=redis_asyncio.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=512,
            timeout=5,
            # Reads are bounded per round trip by the limiter (one timer per batch; a socket_timeout would add
            # one per reply and a wait_for task per write); connects here.
            socket_connect_timeout=settings.redis_timeout_s,
        )
    )
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=None),
    )
    credentials = ProviderCredentials.from_settings(settings)
    anthropic_adapter = AnthropicAdapter(credentials)
    breakers = BreakerRegistry(
        BreakerConfig(
            failure_threshold=settings.breaker_failure_threshold, cooldown_seconds=settings.breaker_cooldown_s
        ),
        on_state_change=record_breaker_state,
    )
    sessions = session_factory(engine)
    # Usage a killed gateway answered for but never made durable is emitted now, before we serve.
    emitter = await DurableEmitter.written_ahead(
        EventPublisher(js, timeout_s=settings.publish_timeout_s),
        sessions,
        wal_dir=settings.usage_wal_dir,
        wal_name="gateway-usage",
        is_connected=lambda: nc.is_connected,
        linger_s=settings.emit_linger_s,
    )
    flags = await FlagClient(settings.nats_url, name="gateway").start()
    # The file/default aliases, with the control plane's model registry live on top of them.
    catalog = load_catalog(settings)
    model_registry = await ModelRegistry(credentials.require, budget=settings).start(nc, catalog)
    # One embedding per request for the semantic cache and the router: loaded now, not on a first request.
    embedder = await load_embedder() if settings.cache_enabled or settings.auto_alias else None
    # The cache's own small pool, without the ping per checkout: a lookup is one statement, and a connection lost
    # meanwhile makes that lookup a miss (the pool replaces it).
    cache_engine = create_async_engine(
        settings.database_url,
        pool_size=settings.cache_db_pool_size,
        max_overflow=settings.cache_db_pool_size,
        connect_args={"server_settings": {"application_name": "gateway-cache"}},
    )
    cache = CacheService(
        redis=redis,
        engine=cache_engine,
        flags=flags,
        embedder_name=embedder.name if embedder is not None else None,
        prefix=settings.cache_key_prefix,
        timeout_s=settings.cache_timeout_s,
        semantic_k=settings.cache_semantic_k,
        max_pending_stores=settings.cache_store_max_pending,
    )
    state = GatewayState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        nats=nc,
        redis=redis,
        http=http,
        anthropic=anthropic_adapter,
        resolver=ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s),
        admin_keys=AdminKeyResolver(engine, cache_ttl_s=settings.admin_key_cache_ttl_s),
        # The tenant's status and limits are read as often as a tenant key's are (they ride on its lookup).
        tenants=TenantKnown(sessions, ttl_s=settings.auth_cache_ttl_s),
        limiter=RateLimiter(redis, linger_s=settings.settle_linger_s, timeout_s=settings.redis_timeout_s),
        catalog=catalog,
        breakers=breakers,
        failover=Failover(
            {
                "openai": OpenAIPassthrough(http, credentials),
                "openai_compatible": OpenAIPassthrough(http, credentials),
                "anthropic": anthropic_adapter,
            },
            breakers,
            credentials,
            settings,
        ),
        emitter=emitter,
        meter=UsageMeter(emitter),
        flags=flags,
        auto=build_auto_router(settings, http, catalog),
        cache=cache,
        embedder=embedder,
    )
    set_service_state(app, state)
    use_api_key_resolver(app, state.resolver)
    # The chat route checks service credentials itself (a fast route); of the FastAPI routes, the model list.
    accept_service_keys(app, state.service_keys, state.tenants, routes=[("GET", "/v1/models")])
    _tune_gc()
    try:
        yield
    finally:
        # Drain: every usage event still in flight becomes durable before we exit.
        await emitter.close()
        for task in list(state.background):
            await task
        await cache.drain()
        await cache_engine.dispose()
        await state.limiter.drain()
        await anthropic_adapter.aclose()
        await http.close()
        await redis.aclose()
        await flags.close()
        await model_registry.close()
        await nc.drain()
        await engine.dispose()


def create_app(settings: GatewaySettings | None = None) -> ServiceApp:
    settings = settings or GatewaySettings()
    # POST /v1/chat/completions is a fast route: it pays for one thin ASGI layer instead of the eight generic
    # ones every other path goes through (aiaas.fast_route, benchmarks/README.md).
    return service_app(
        settings,
        title="AIaaS gateway",
        lifespan=_lifespan,
        routers=[chat_router, cache_router, health_router],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
        fast_routes=[ChatCompletions()],
    )
