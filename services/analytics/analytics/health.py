"""/health/live and /health/ready: the tenant API's (Postgres as app_runtime) and the admin listener's
(Postgres as platform_admin)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from analytics.deps import AdminStateDep, StateDep

__all__ = ["router", "admin_router"]

router = health_router()
admin_router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres answers."""
    return await readiness({"postgres": ping_postgres(state.engine)})


@admin_router.get("/ready")
async def admin_ready(state: AdminStateDep) -> JSONResponse:
    """Ready when Postgres answers on the platform_admin role."""
    return await readiness({"postgres_admin": ping_postgres(state.admin_engine)})
