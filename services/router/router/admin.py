"""The router admin listener: `python -m router.admin [--host H] [--port 8089]`.

Serves `/admin/router/versions` (register, activate, share, roll back) and `/admin/router/canary` to
platform-admin keys, and runs the canary monitor, which reads every tenant's decisions: so this process, not the
tenant-facing router, holds the platform_admin role (and only that role). Canary events are staged in the outbox
and published on NATS; the router processes pick up version changes by polling `router_versions`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS

from aiaas.auth import AdminKeyResolver, use_admin_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.events import EventPublisher, ensure_topology
from aiaas.health import health_router, ping_postgres, readiness
from aiaas.serve import run_service
from aiaas.service_app import service_app
from router.canary.endpoints import router as canary_router
from router.canary.events import CanaryEvents
from router.canary.rules import Thresholds
from router.canary.service import CanaryMonitor
from router.config import RouterAdminSettings
from router.state import AdminStateDep, RouterAdminState
from router.versions.artifacts import default_version_name
from router.versions.endpoints import router as versions_router
from router.versions.service import VersionAdmin

__all__ = ["create_app", "main"]

_log = logging.getLogger(__name__)
health = health_router()


@health.get("/ready")
async def ready(state: AdminStateDep) -> JSONResponse:
    """200 while Postgres answers on the platform_admin role."""
    return await readiness({"postgres_admin": ping_postgres(state.admin_engine)})


def thresholds(settings: RouterAdminSettings) -> Thresholds:
    return Thresholds(
        alpha=settings.canary_alpha,
        misroute_margin=settings.canary_misroute_margin,
        error_margin=settings.canary_error_margin,
        slow_margin=settings.canary_slow_margin,
        latency_margin=settings.canary_latency_margin,
        latency_floor_ms=settings.canary_latency_floor_ms,
        min_decisions=settings.canary_min_decisions,
    )


async def _connect(settings: RouterAdminSettings) -> NATS | None:
    """NATS for publishing canary events; None while it is down (the outbox keeps them)."""
    try:
        nc = await nats.connect(
            settings.nats_url,
            name=settings.service_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
        )
        await ensure_topology(nc.jetstream(), consumers=())
    except Exception:  # noqa: BLE001  # events wait in the outbox for the relay
        _log.warning("router admin: NATS unavailable, canary events go through the outbox", exc_info=True)
        return None
    return nc


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: RouterAdminSettings = app.state.settings
    admin_engine = create_engine(settings.admin_database_url, pool_size=4, application_name=settings.service_name)
    admin_sessions = session_factory(admin_engine)
    use_admin_key_resolver(app, AdminKeyResolver(admin_engine, cache_ttl_s=settings.admin_key_cache_ttl_s))
    nc = await _connect(settings)
    events = CanaryEvents(None if nc is None else EventPublisher(nc.jetstream(), timeout_s=settings.publish_timeout_s))
    # The default artifact's name: the stable version while router_versions holds none.
    default_version = default_version_name(Path(settings.artifact_path))
    versions = VersionAdmin(admin_sessions, events, default_version=default_version)
    monitor = CanaryMonitor(
        admin_sessions,
        versions,
        default_version=default_version,
        window_s=settings.canary_window_s,
        interval_s=settings.canary_interval_s,
        thresholds=thresholds(settings),
    )
    set_service_state(
        app,
        RouterAdminState(
            settings=settings,
            admin_engine=admin_engine,
            admin_sessions=admin_sessions,
            versions=versions,
            versions_default=default_version,
            monitor=monitor,
        ),
    )
    monitor.start()
    try:
        yield
    finally:
        await monitor.close()
        if nc is not None:
            await nc.drain()
        await admin_engine.dispose()


def create_app(settings: RouterAdminSettings | None = None) -> FastAPI:
    settings = settings or RouterAdminSettings(service_name="router-admin")
    return service_app(
        settings,
        title="AIaaS router admin",
        lifespan=_lifespan,
        routers=[versions_router, canary_router, health],
        tracing=settings.tracing,
        # An artifact travels in the body of a registration.
        max_body_bytes=64 * 1024 * 1024,
    )


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m router.admin",
        "router.admin:create_app",
        port=RouterAdminSettings(service_name="router-admin").admin_port,
        argv=argv,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
