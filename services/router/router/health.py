"""/health/live and /health/ready of the router API.

Ready while Postgres answers (policies, the bandit's arms, tenant checks). NATS is not required: decisions are
written ahead and reach the outbox while NATS is away, and a decision never waits for it.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from router.state import StateDep

__all__ = ["router"]

router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres answers."""
    return await readiness({"postgres": ping_postgres(state.engine)})
