"""/health/live and /health/ready of the toolbox: it depends on nothing, so ready is live with its counts."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, readiness
from toolbox.state import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while the process serves (all state is in memory)."""
    response: JSONResponse = await readiness({}, reported={"idempotency_keys": str(state.idempotency.count())})
    return response
