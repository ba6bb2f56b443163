"""Health endpoints every service shares: `/health/live`, and `/health/ready` answered from named probes.

A service makes its router with `health_router()` and adds its own `/ready` that awaits
`readiness({...})`: each probe gets 2 s, a failure is reported by name (`down: <ExceptionType>`), and
any failure makes the answer 503 `degraded`. `reported` adds states that are shown but do not count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["health_router", "nats_connected", "ping_postgres", "readiness"]

PROBE_TIMEOUT_S = 2.0


def health_router() -> APIRouter:
    """An `/health` router with `/live`; the service adds `/ready`."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    return router


async def ping_postgres(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("select 1"))


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
    except Exception as exc:  # noqa: BLE001 - any failing dependency means "not ready", reported by name
        return name, f"down: {type(exc).__name__}"
    return name, "ok"


async def readiness(
    probes: Mapping[str, Awaitable[object]], *, reported: Mapping[str, str] | None = None
) -> JSONResponse:
    """200 `ok` when every probe passes, else 503 `degraded`; the body names each check's state."""
    results = dict(await asyncio.gather(*(_check(name, probe) for name, probe in probes.items())))
    ok = all(value == "ok" for value in results.values())
    checks = {**results, **(reported or {})}
    return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503)
