"""/health/live and /health/ready (Postgres, Redis)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from billing.deps import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres and Redis answer (events leave through the outbox, so NATS is not needed here)."""
    return await readiness({"postgres": ping_postgres(state.engine), "redis": state.redis.ping()})
