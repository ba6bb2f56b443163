"""/health/live and /health/ready of the realtime service: ready while it can accept a socket and answer it.

Required: Postgres (keys and tickets resolve there, and every event is recorded there), Redis (a
socket is admitted only through the per-tenant connection count, refused with 1013 while Redis
errors, and replies stream through the live log) and the gateway (every reply comes from it; its
`/health/live`, because the gateway's own readiness is the gateway's business). Degradable: NATS,
which carries only tenant notices and flag changes; sockets are served without them.
"""

from __future__ import annotations

import aiohttp
from fastapi.responses import JSONResponse

from aiaas.health import health_router, nats_connected, ping_postgres, readiness
from realtime.state import StateDep

__all__ = ["router"]

router = health_router()

_GATEWAY_TIMEOUT = aiohttp.ClientTimeout(total=1.5)


async def _gateway_live(base_url: str) -> None:
    # A connection of its own: the reply pool's keep-alive connections say nothing about a new one.
    async with (
        aiohttp.ClientSession(timeout=_GATEWAY_TIMEOUT) as http,
        http.get(base_url.rstrip("/") + "/health/live") as resp,
    ):
        if resp.status != 200:
            raise ConnectionError(f"gateway /health/live answered {resp.status}")


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 while Postgres, Redis and the gateway answer; a NATS outage is listed under `degraded`."""
    response: JSONResponse = await readiness(
        {
            "postgres": ping_postgres(state.engine),
            "redis": state.redis.ping(),
            "gateway": _gateway_live(state.settings.gateway_url),
        },
        degradable={"nats": nats_connected(state.nats)},
    )
    return response
