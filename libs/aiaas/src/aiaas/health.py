"""Health endpoints every service shares: `/health/live`, and `/health/ready` answered from named probes.

Liveness is "the event loop answers" and does no I/O: a dependency outage must never get a process
restarted. Readiness is "able to serve its routes": a service adds its own `/ready` that awaits
`readiness(required, degradable=...)`. Each probe gets 2 s and is reported by name (`ok` or
`down: <ExceptionType>`). A failed *required* probe (the service cannot serve without it) answers
503 `unavailable`; a failed *degradable* probe (the service serves without it, in a documented
degraded mode) is listed under `degraded` and the answer stays 200. `reported` adds states that are
shown but checked elsewhere. Every readiness call sets `health_dependency_up{dependency,required}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NatsClient
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from aiaas import repository

__all__ = ["DEPENDENCY_UP", "health_router", "nats_connected", "ping_postgres", "readiness"]

PROBE_TIMEOUT_S = 2.0

# One series per dependency a process checks (a handful): alert on required="false" == 0 to see a
# service running degraded, which its 200 readiness deliberately hides from the load balancer.
DEPENDENCY_UP = Gauge(
    "health_dependency_up",
    "1 if the dependency passed the last readiness probe, else 0",
    ["dependency", "required"],
)


def health_router() -> APIRouter:
    """An `/health` router with `/live`; the service adds `/ready`."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        """The process is up (no I/O: an outage elsewhere must not get it restarted)."""
        return {"status": "ok"}

    return router


async def ping_postgres(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await repository.ping(conn)


async def nats_connected(nc: NatsClient, *, flush_timeout_s: int | None = None) -> None:
    """Raise unless `nc` is connected (and, with a timeout, answers a flush round trip)."""
    if not nc.is_connected:
        raise ConnectionError("NATS is not connected")
    if flush_timeout_s is not None:
        await nc.flush(timeout=flush_timeout_s)


async def _check(name: str, probe: Awaitable[object]) -> tuple[str, str]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await probe
    except Exception as exc:  # noqa: BLE001 - any failing dependency is reported by name
        return name, f"down: {type(exc).__name__}"
    return name, "ok"


async def readiness(
    required: Mapping[str, Awaitable[object]],
    *,
    degradable: Mapping[str, Awaitable[object]] | None = None,
    reported: Mapping[str, str] | None = None,
) -> JSONResponse:
    """200 `ok` when every required probe passes (failed degradable ones listed in `degraded`), else 503."""
    optional = dict(degradable or {})
    names = [*required, *optional]
    probes = [*required.values(), *optional.values()]
    results = dict(await asyncio.gather(*(_check(name, probe) for name, probe in zip(names, probes, strict=True))))
    for name, state in results.items():
        DEPENDENCY_UP.labels(dependency=name, required=str(name in required).lower()).set(state == "ok")
    ok = all(results[name] == "ok" for name in required)
    body = {
        "status": "ok" if ok else "unavailable",
        "degraded": sorted(name for name in optional if results[name] != "ok"),
        "checks": {**results, **(reported or {})},
    }
    return JSONResponse(body, status_code=200 if ok else 503)
