"""/health/live and /health/ready (Postgres; NATS is reported but not required)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from control_plane.deps import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres answers: changes are committed there and reach KV at the next reconcile."""
    return await readiness(
        {"postgres": ping_postgres(state.admin_engine)},
        reported={"nats": "ok" if state.publisher.connected else "down"},
    )
