"""Builds the control-plane FastAPI app; every resource is born in `lifespan`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiaas.auth import AdminKeyResolver, use_admin_key_resolver
from aiaas.credential_hosts import CredentialHosts
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.service_app import service_app
from aiaas.tasks import stop_tasks
from control_plane.config import ControlPlaneSettings
from control_plane.flags.endpoints import router as flags_router
from control_plane.flags.publisher import FlagPublisher
from control_plane.flags.service import FlagService
from control_plane.health import router as health_router
from control_plane.registry.endpoints import router as registry_router
from control_plane.registry.publisher import ModelRegistryPublisher
from control_plane.registry.service import RegistryService
from control_plane.state import ControlPlaneState
from control_plane.tenants.endpoints import router as tenants_router

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ControlPlaneSettings = app.state.settings
    admin_engine = create_engine(
        settings.admin_database_url, pool_size=settings.db_pool_size, application_name="control-plane"
    )
    admin_sessions = session_factory(admin_engine)
    use_admin_key_resolver(app, AdminKeyResolver(admin_engine, cache_ttl_s=settings.admin_key_cache_ttl_s))
    publisher = FlagPublisher(settings.nats_url, settings.flags_bucket, timeout_s=settings.publish_timeout_s)
    flags = FlagService(admin_sessions, publisher)
    model_publisher = ModelRegistryPublisher(settings.nats_url, timeout_s=settings.publish_timeout_s)
    registry = RegistryService(
        admin_sessions,
        model_publisher,
        credential_hosts=CredentialHosts.from_declaration(settings.provider_credential_hosts),
        failover_budget=settings.failover_budget,
    )
    set_service_state(
        app,
        ControlPlaneState(
            settings=settings,
            admin_engine=admin_engine,
            admin_sessions=admin_sessions,
            publisher=publisher,
            flags=flags,
            registry=registry,
        ),
    )
    if settings.seed_flags:
        created = await flags.seed()
        if created:
            _log.info("seed flags created: %s", ", ".join(created))
    # Postgres is the source of truth: the reconciler fills KV now and keeps it equal.
    reconciler = asyncio.create_task(publisher.run_reconciler(admin_sessions, settings.reconcile_interval_s))
    # The same for model aliases: republished at start (repairs a lost publish) and every interval.
    republisher = asyncio.create_task(model_publisher.run_republisher(admin_sessions, settings.reconcile_interval_s))
    try:
        yield
    finally:
        await stop_tasks(reconciler, republisher)
        await publisher.close()
        await model_publisher.close()
        await admin_engine.dispose()


def create_app(settings: ControlPlaneSettings | None = None) -> FastAPI:
    settings = settings or ControlPlaneSettings()
    return service_app(
        settings,
        title="AIaaS control plane",
        lifespan=_lifespan,
        routers=[tenants_router, flags_router, registry_router, health_router],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
