"""/health/live and /health/ready of the ingestion API: every route reads or writes Postgres, so it is required."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from ingestion.state import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres answers."""
    response: JSONResponse = await readiness({"postgres": ping_postgres(state.engine)})
    return response
