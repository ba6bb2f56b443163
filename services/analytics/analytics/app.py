"""Builds the KPI API; every resource is born in `lifespan`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiaas.auth import ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.service_app import service_app
from analytics.config import AnalyticsSettings
from analytics.health import router as health_router
from analytics.kpis.endpoints import admin_router, router
from analytics.state import AnalyticsState

__all__ = ["create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalyticsSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="analytics")
    admin_engine = create_engine(settings.admin_database_url, pool_size=2, application_name="analytics-admin")
    app.state.analytics = AnalyticsState(
        settings=settings,
        engine=engine,
        admin_engine=admin_engine,
        sessions=session_factory(engine),
        admin_sessions=session_factory(admin_engine),
        resolver=ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s),
    )
    use_api_key_resolver(app, app.state.analytics.resolver)
    try:
        yield
    finally:
        await engine.dispose()
        await admin_engine.dispose()


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    return service_app(
        settings,
        title="AIaaS analytics",
        lifespan=_lifespan,
        routers=[router, admin_router, health_router],
        tracing=settings.tracing,
    )
