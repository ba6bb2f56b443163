"""/health/live and /health/ready of the billing tenant API and of its admin listener.

Tenant API: every route reads or writes Postgres (app_runtime), so Postgres is required. Redis is
degradable: a plan change publishes the tenant's quota state there best-effort (the meter's
reconcile republishes it), so an outage delays enforcement, never an answer. Stripe is not probed:
it is a third party whose outage fails only Checkout top-ups (with an error), not the listener.
Admin listener: Postgres on both of its roles is required (admin keys resolve on app_runtime, admin
routes and Stripe webhooks run as platform_admin); Redis is degradable for the same reason.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, ping_postgres, readiness
from billing.state import AdminStateDep, StateDep

__all__ = ["router", "admin_router"]

router = health_router()
admin_router = health_router()


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres answers; a Redis outage is listed under `degraded`."""
    response: JSONResponse = await readiness(
        {"postgres": ping_postgres(state.engine)}, degradable={"redis": state.redis.ping()}
    )
    return response


@admin_router.get("/ready")
async def admin_ready(state: AdminStateDep) -> JSONResponse:
    """200 while Postgres answers on both roles; a Redis outage is listed under `degraded`."""
    response: JSONResponse = await readiness(
        {"postgres": ping_postgres(state.engine), "postgres_admin": ping_postgres(state.admin_engine)},
        degradable={"redis": state.redis.ping()},
    )
    return response
