"""The analytics admin listener: `python -m analytics.admin [--host H] [--port 8087]`.

Serves `/admin/analytics/kpis` (platform-admin keys), the KPI view across tenants: so this process, not
the tenant API, holds the platform_admin role (and only that role). It is not exposed to tenants.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiaas.auth import AdminKeyResolver, use_admin_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.serve import run_service
from aiaas.service_app import service_app
from analytics.config import AnalyticsAdminSettings
from analytics.health import admin_router as health_router
from analytics.kpis.endpoints import admin_router
from analytics.state import AnalyticsAdminState

__all__ = ["create_app", "main"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalyticsAdminSettings = app.state.settings
    admin_engine = create_engine(settings.admin_database_url, pool_size=2, application_name=settings.service_name)
    set_service_state(
        app,
        AnalyticsAdminState(settings=settings, admin_engine=admin_engine, admin_sessions=session_factory(admin_engine)),
    )
    use_admin_key_resolver(app, AdminKeyResolver(admin_engine, cache_ttl_s=settings.admin_key_cache_ttl_s))
    try:
        yield
    finally:
        await admin_engine.dispose()


def create_app(settings: AnalyticsAdminSettings | None = None) -> FastAPI:
    settings = settings or AnalyticsAdminSettings(service_name="analytics-admin")
    return service_app(
        settings,
        title="AIaaS analytics admin",
        lifespan=_lifespan,
        routers=[admin_router, health_router],
        tracing=settings.tracing,
    )


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m analytics.admin",
        "analytics.admin:create_app",
        port=AnalyticsAdminSettings(service_name="analytics-admin").admin_port,
        argv=argv,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
