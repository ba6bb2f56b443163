"""Builds the router API (`/v1/router/*`, `/v1/feedback`; app_runtime only); every resource is born in `lifespan`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from fastapi import FastAPI

from aiaas.auth import AdminKeyResolver, ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.events import DurableEmitter, EventPublisher, ensure_topology
from aiaas.service_app import ServiceApp, service_app
from router.bandit.service import ArmStore
from router.callers import TenantKnown
from router.config import RouterSettings
from router.decide.endpoints import Decide
from router.decide.endpoints import router as decide_router
from router.feedback.endpoints import router as feedback_router
from router.health import router as health_router
from router.policy.endpoints import router as policy_router
from router.policy.service import PolicyStore, platform_policy
from router.state import RouterState
from router.versions.selector import VersionSelector

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _warm_embedder() -> None:
    """Load the embedder before the first request needs it (a cold load would blow the decide deadline)."""
    try:
        from aiaas_embedder import default_embedder

        await default_embedder().aencode(["warm up"])
    except Exception as exc:  # noqa: BLE001 - the decide path falls back on its own without an embedder
        log.warning("embedder not warmed", extra={"error": repr(exc)})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: RouterSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="router")
    sessions = session_factory(engine)
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="router")
    js = nc.jetstream()
    await ensure_topology(js, consumers=())
    # Decisions a killed router answered but never made durable are emitted now, before we serve.
    emitter = await DurableEmitter.written_ahead(
        EventPublisher(js, timeout_s=settings.publish_timeout_s),
        sessions,
        wal_dir=settings.wal_dir,
        wal_name="router-decisions",
        is_connected=lambda: nc.is_connected,
        linger_s=settings.emit_linger_s,
    )
    selector = VersionSelector(
        sessions if settings.versions_from_db else None,
        default_artifact=Path(settings.artifact_path),
        poll_s=settings.versions_poll_s,
    )
    await selector.start()
    resolver = ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s)
    state = RouterState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        nats=nc,
        resolver=resolver,
        admin_keys=AdminKeyResolver(engine, cache_ttl_s=settings.admin_key_cache_ttl_s),
        tenants=TenantKnown(sessions),
        emitter=emitter,
        selector=selector,
        policies=PolicyStore(sessions, settings),
        platform_policy=platform_policy(settings),
        arms=ArmStore(sessions, settings.state_cache_ttl_s),
    )
    set_service_state(app, state)
    use_api_key_resolver(app, resolver)
    if selector.stable.model is not None and selector.stable.model.embedding_dim is not None:
        # Before serving: a cold load takes longer than a decision's deadline (the first ones would fall back).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_warm_embedder(), timeout=60)
    try:
        yield
    finally:
        # Drain: every decision still in flight becomes durable before we exit.
        await emitter.close()
        await state.policies.close()
        await state.arms.close()
        await selector.close()
        await nc.drain()
        await engine.dispose()


def create_app(settings: RouterSettings | None = None) -> ServiceApp:
    settings = settings or RouterSettings()
    return service_app(
        settings,
        title="AIaaS router",
        lifespan=_lifespan,
        routers=[decide_router, policy_router, feedback_router, health_router],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
        fast_routes=[Decide()],
    )
