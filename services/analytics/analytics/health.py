"""/health/live and /health/ready (Postgres, as the runtime and the admin role)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from analytics.deps import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres answers on both connection roles."""
    return await readiness(
        {"postgres": ping_postgres(state.engine), "postgres_admin": ping_postgres(state.admin_engine)}
    )
