"""/health/live and /health/ready of the orchestrator API: Postgres is required (every route reads or writes it);
NATS is degradable (a run's request reaches the workers through the outbox relay when the direct publish fails)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, nats_connected, ping_postgres, readiness
from orchestrator.state import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres answers; NATS down is reported under `degraded`."""
    response: JSONResponse = await readiness(
        {"postgres": ping_postgres(state.engine)}, degradable={"nats": nats_connected(state.nats)}
    )
    return response
