"""Builds the tenant KPI API (`/v1/analytics`, app_runtime only); every resource is born in `lifespan`.

The cross-tenant `/admin/analytics` view runs in the admin listener (analytics/admin.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiaas.auth import ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.service_app import service_app
from analytics.config import AnalyticsSettings
from analytics.health import router as health_router
from analytics.kpis.endpoints import router
from analytics.state import AnalyticsState

__all__ = ["create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalyticsSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="analytics")
    resolver = ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s)
    set_service_state(
        app, AnalyticsState(settings=settings, engine=engine, sessions=session_factory(engine), resolver=resolver)
    )
    use_api_key_resolver(app, resolver)
    try:
        yield
    finally:
        await engine.dispose()


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    return service_app(
        settings,
        title="AIaaS analytics",
        lifespan=_lifespan,
        routers=[router, health_router],
        tracing=settings.tracing,
    )
