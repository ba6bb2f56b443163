"""Builds the orchestrator API (`/v1/orchestrator/*`, tenant keys with scope `orchestrator`, app_runtime only);
every resource is born in `lifespan`: the database engine, the key resolver, a NATS connection (the ORCH stream is
ensured, run requests are published on it), the live flag cache (a run snapshots its tenant's flags).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from fastapi import FastAPI

from aiaas import clock
from aiaas.auth import ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.events import EventPublisher
from aiaas.events.topology import ensure_topology
from aiaas.flags import FlagClient
from aiaas.service_app import ServiceApp, service_app
from orchestrator.config import OrchestratorSettings
from orchestrator.health import router as health_router
from orchestrator.runs.endpoints import router as runs_router
from orchestrator.runs.service import RunService
from orchestrator.state import OrchestratorState

__all__ = ["create_app", "RUNS_CONSUMER"]

# The workers' durable consumer (aiaas.events.topology), ensured with the streams so a request is never dropped.
RUNS_CONSUMER = "orchestrator-runs"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: OrchestratorSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="orchestrator")
    sessions = session_factory(engine)
    resolver = ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s)
    nc = await nats.connect(
        settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name=settings.service_name
    )
    js = nc.jetstream()
    await ensure_topology(js, consumers=(RUNS_CONSUMER,))
    flags = await FlagClient(settings.nats_url, name=settings.service_name).start()
    runs = RunService(
        sessions,
        publisher=EventPublisher(js, timeout_s=settings.publish_timeout_s),
        flags=flags,
        clock=clock.now,
        poll_s=settings.wait_poll_s,
    )
    set_service_state(
        app,
        OrchestratorState(
            settings=settings, engine=engine, sessions=sessions, resolver=resolver, nats=nc, flags=flags, runs=runs
        ),
    )
    use_api_key_resolver(app, resolver)
    try:
        yield
    finally:
        await flags.close()
        await nc.drain()
        await engine.dispose()


def create_app(settings: OrchestratorSettings | None = None) -> ServiceApp:
    settings = settings or OrchestratorSettings()
    return service_app(
        settings,
        title="AIaaS orchestrator",
        lifespan=_lifespan,
        routers=[runs_router, health_router],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
