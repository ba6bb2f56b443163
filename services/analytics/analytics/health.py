"""/health/live and /health/ready of the analytics tenant API and of its admin listener.

Both serve only from Postgres (the tenant API as app_runtime, the admin listener as platform_admin,
where its admin keys also resolve), so Postgres is their one required probe. NATS is not theirs: the
consumer that fills the rollups is a separate worker, and a stalled consumer makes numbers late,
not routes unanswerable.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from analytics.state import AdminStateDep, StateDep

__all__ = ["router", "admin_router"]

router = health_router()
admin_router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres answers."""
    return await readiness({"postgres": ping_postgres(state.engine)})


@admin_router.get("/ready")
async def admin_ready(state: AdminStateDep) -> JSONResponse:
    """200 while Postgres answers on the platform_admin role."""
    return await readiness({"postgres_admin": ping_postgres(state.admin_engine)})
