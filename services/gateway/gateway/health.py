"""/health/live and /health/ready (Postgres, NATS, Redis)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, nats_connected, ping_postgres, readiness
from gateway.deps import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres, NATS and Redis all answer."""
    return await readiness(
        {
            "postgres": ping_postgres(state.engine),
            "nats": nats_connected(state.nats, flush_timeout_s=1),
            "redis": state.redis.ping(),
        }
    )
