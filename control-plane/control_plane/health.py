"""/health/live and /health/ready of the control plane.

Postgres is required: every admin key resolves there and every change is committed there first.
NATS is degradable: flags and model aliases reach the KV buckets at the next reconcile after it
returns, so an outage delays propagation, never an answer (listed under `degraded`, still 200).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from control_plane.state import StateDep

__all__ = ["router"]

router = health_router()


async def _publisher_connected(connected: bool) -> None:
    if not connected:
        raise ConnectionError("the KV publisher is not connected to NATS")


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres answers; a NATS outage is listed under `degraded`."""
    return await readiness(
        {"postgres": ping_postgres(state.admin_engine)},
        degradable={"nats": _publisher_connected(state.publisher.connected)},
    )
