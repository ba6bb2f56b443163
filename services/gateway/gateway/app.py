"""Builds the gateway FastAPI app; every resource is born in `lifespan`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import nats
import redis.asyncio as redis_asyncio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Receive, Scope, Send

from aiaas.auth import ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.errors import BodySizeLimitMiddleware, install_error_handlers
from aiaas.events import DurableEmitter, EventPublisher, ensure_topology
from aiaas.events.wal import WriteAheadLog
from aiaas.flags import FlagClient
from aiaas.observability.logging import configure_logging
from aiaas.observability.metrics import record_breaker_state
from aiaas.observability.tracing import instrument_fastapi, setup_tracing
from aiaas.resilience import BreakerConfig, BreakerRegistry
from aiaas.service_app import with_metrics_listener
from gateway.catalog import load_catalog
from gateway.chat.asgi_endpoint import CHAT_COMPLETIONS_PATH, ChatCompletionsEndpoint, document_route
from gateway.chat.endpoints import router as chat_router
from gateway.config import GatewaySettings
from gateway.credentials import ProviderCredentials
from gateway.failover import Failover
from gateway.health import router as health_router
from gateway.metering import UsageMeter
from gateway.model_registry import ModelRegistry
from gateway.providers.anthropic_adapter import AnthropicAdapter
from gateway.providers.openai_passthrough import OpenAIPassthrough
from gateway.rate_limit import RateLimiter
from gateway.state import GatewayState

__all__ = ["GatewayApp", "create_app"]

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
    wal = WriteAheadLog(Path(settings.usage_wal_dir), "gateway-usage") if settings.usage_wal_dir else None
    emitter = DurableEmitter(
        EventPublisher(js, timeout_s=settings.publish_timeout_s),
        sessions,
        is_connected=lambda: nc.is_connected,
        linger_s=settings.emit_linger_s,
        wal=wal,
    )
    if wal is not None:
        # Usage a killed gateway answered for but never made durable is emitted now, before we serve.
        await wal.recover(emitter)
    flags = await FlagClient(settings.nats_url, name="gateway").start()
    # The file/default aliases, with the control plane's model registry live on top of them.
    catalog = load_catalog(settings)
    model_registry = await ModelRegistry(credentials.require, budget=settings).start(nc, catalog)
    state = GatewayState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        nats=nc,
        redis=redis,
        http=http,
        anthropic=anthropic_adapter,
        resolver=ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s),
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
    )
    app.state.gateway = state
    use_api_key_resolver(app, state.resolver)
    _tune_gc()
    try:
        yield
    finally:
        # Drain: every usage event still in flight becomes durable before we exit.
        await emitter.drain()
        if wal is not None:
            wal.close(remove=emitter.in_flight == 0)
        for task in list(state.background):
            await task
        await state.limiter.drain()
        await anthropic_adapter.aclose()
        await http.close()
        await redis.aclose()
        await flags.close()
        await model_registry.close()
        await nc.drain()
        await engine.dispose()


class GatewayApp(FastAPI):
    """FastAPI, with POST /v1/chat/completions answered before its middleware stack and router.

    The hot route pays for one thin ASGI endpoint instead of eight generic layers (see
    chat/asgi_endpoint.py and benchmarks/README.md); every other path goes through FastAPI as usual.
    """

    chat_endpoint: ChatCompletionsEndpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == CHAT_COMPLETIONS_PATH:
            await self.chat_endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> GatewayApp:
    settings = settings or GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    # Spans come from opentelemetry-instrumentation-fastapi (below) and, for the chat route, from
    # its own endpoint; FastAPI's own native telemetry would instrument every request a second time.
    app = GatewayApp(
        title="AIaaS gateway",
        version="0.1.0",
        lifespan=with_metrics_listener(_lifespan, settings),
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.chat_endpoint = ChatCompletionsEndpoint(
        lambda: app.state.gateway, max_body_bytes=settings.max_body_bytes, tracing=settings.tracing
    )
    install_error_handlers(app)
    app.include_router(chat_router)
    app.include_router(health_router)
    if settings.tracing:
        setup_tracing(settings.service_name, settings.otel_exporter)
        instrument_fastapi(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            document_route(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
