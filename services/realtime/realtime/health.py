"""/health/live and /health/ready (Postgres, Redis, NATS)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, nats_connected, ping_postgres, readiness
from realtime.deps import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres, Redis and NATS (tenant notices) answer."""
    return await readiness(
        {"postgres": ping_postgres(state.engine), "redis": state.redis.ping(), "nats": nats_connected(state.nats)}
    )
