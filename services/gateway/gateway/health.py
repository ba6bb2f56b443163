"""/health/live and /health/ready: the gateway is ready while it can authenticate and reach a provider.

Required: Postgres (API keys resolve there, and it holds the outbox usage falls back to) and at
least one deployment whose breaker is not open in its cool-down (an open breaker past it admits a
probe, so it counts as usable). Degradable, still 200 with the name under `degraded`: NATS (usage
events go to the write-ahead log and the Postgres outbox, relayed when NATS returns) and Redis
(rate limits and quotas are bypassed and counted in `gateway_rate_limit_bypassed_total`).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiaas.health import health_router, nats_connected, ping_postgres, readiness
from aiaas.resilience.breaker import BreakerState
from gateway.state import GatewayState, StateDep

__all__ = ["router"]

router = health_router()


class NoUsableDeployment(Exception):
    """Every configured deployment's breaker is open and cooling down."""


async def _a_deployment_usable(state: GatewayState) -> None:
    breakers = state.breakers
    for deployment in state.catalog.deployments():
        key = deployment.name
        if breakers.state(key) is not BreakerState.OPEN or breakers.retry_in(key) == 0:
            return
    raise NoUsableDeployment


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while keys resolve and a deployment is usable; NATS and Redis outages are reported, not fatal."""
    response: JSONResponse = await readiness(
        {"postgres": ping_postgres(state.engine), "providers": _a_deployment_usable(state)},
        degradable={"nats": nats_connected(state.nats, flush_timeout_s=1), "redis": state.redis.ping()},
    )
    return response
