"""Builds the realtime FastAPI app; every resource is born in `lifespan`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import nats
import redis.asyncio as redis_asyncio
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aiaas.auth import ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.flags import FlagClient
from aiaas.service_app import service_app
from aiaas.tasks import stop_tasks
from realtime.config import RealtimeSettings
from realtime.connection.endpoints import RealtimeASGI
from realtime.connection.registry import ConnectionRegistry
from realtime.connection.repository import TenantConnectionLimit
from realtime.connection.service import enforce_realtime_flag, idle_sweep, refresh_slots
from realtime.conversations.gateway_client import GatewayClient
from realtime.conversations.live_log import LiveLog
from realtime.conversations.repository import EventStore
from realtime.conversations.responder import Responder
from realtime.conversations.service import ConversationService
from realtime.health import router as health_router
from realtime.log_redact import install as redact_query_credentials
from realtime.notices.consumers import subscribe_broadcasts
from realtime.state import RealtimeState
from realtime.tickets.endpoints import router as tickets_router
from realtime.tickets.repository import TicketRepository
from realtime.tickets.service import TicketService, purge_expired

__all__ = ["create_app"]

# Ride through a Redis restart (about 3 s of retries): a reply streaming meanwhile keeps its events
# instead of failing half-way after the gateway has already metered it.
_REDIS_RETRY = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=8)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: RealtimeSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="realtime")
    redis = redis_asyncio.Redis.from_url(
        settings.redis_url,
        max_connections=10_000,
        retry=_REDIS_RETRY,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    timeout = aiohttp.ClientTimeout(
        total=None, connect=settings.gateway_connect_timeout_s, sock_read=settings.gateway_read_timeout_s
    )
    http = aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=settings.gateway_keepalive_s)
    )
    nc = await nats.connect(settings.nats_url, name="realtime", max_reconnect_attempts=-1)
    sessions = session_factory(engine)
    live = LiveLog(
        redis, maxlen=settings.live_log_maxlen, ttl_s=settings.live_ttl_s, inflight_ttl_s=settings.inflight_ttl_s
    )
    store = EventStore(sessions)
    responder = Responder(
        GatewayClient(http, settings.gateway_url),
        live,
        store,
        batch_size=settings.persist_batch_size,
        interval_ms=settings.persist_interval_ms,
        inflight_ttl_s=settings.inflight_ttl_s,
        max_inflight=settings.max_inflight_responses,
    )
    registry = ConnectionRegistry()
    flags = await FlagClient(settings.nats_url, name="realtime").start()
    state = RealtimeState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=redis,
        nats=nc,
        resolver=ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s),
        conversations=ConversationService(
            store,
            live,
            responder,
            max_conversations_per_connection=settings.max_conversations_per_connection,
            inflight_ttl_s=settings.inflight_ttl_s,
        ),
        limit=TenantConnectionLimit(redis, limit=settings.max_connections_per_tenant, ttl_s=settings.connection_ttl_s),
        registry=registry,
        flags=flags,
        tickets=TicketService(TicketRepository(engine), ttl_s=settings.ticket_ttl_s),
    )
    set_service_state(app, state)
    use_api_key_resolver(app, state.resolver)
    subscription = await subscribe_broadcasts(nc, settings.broadcast_subject_prefix, registry)
    refresher = asyncio.create_task(refresh_slots(registry, state.limit))
    enforcer = asyncio.create_task(enforce_realtime_flag(registry, flags))
    sweeper = asyncio.create_task(idle_sweep(registry, settings.idle_timeout_s))
    purger = None
    if settings.ticket_purge_interval_s:
        purger = asyncio.create_task(purge_expired(state.tickets, settings.ticket_purge_interval_s))
    try:
        yield
    finally:
        # Runs after the server closed every socket with 1012: let replies still streaming finish and persist.
        await stop_tasks(refresher, enforcer, sweeper, purger)
        await subscription.unsubscribe()
        await responder.drain(settings.drain_timeout_s)
        await flags.close()
        await nc.drain()
        await http.close()
        await redis.aclose()
        await engine.dispose()


def create_app(settings: RealtimeSettings | None = None) -> RealtimeASGI:
    settings = settings or RealtimeSettings()
    app = service_app(
        settings,
        title="AIaaS realtime",
        lifespan=_lifespan,
        routers=[health_router, tickets_router],
        tracing=settings.tracing,
    )
    redact_query_credentials()
    return RealtimeASGI(app)
