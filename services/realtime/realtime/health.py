"""/health/live and /health/ready (Postgres, Redis, NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from realtime.deps import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(name: str, probe: Awaitable[object]) -> tuple[str, str]:
    try:
        async with asyncio.timeout(2):
            await probe
    except Exception as exc:  # noqa: BLE001 - any failing dependency means "not ready", reported by name
        return name, f"down: {type(exc).__name__}"
    return name, "ok"


async def _nats_connected(connected: bool) -> None:
    if not connected:
        raise ConnectionError("NATS is not connected")


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres, Redis and NATS (tenant notices) answer."""

    async def pg() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("select 1"))

    results = dict(
        await asyncio.gather(
            _check("postgres", pg()),
            _check("redis", state.redis.ping()),
            _check("nats", _nats_connected(state.nats.is_connected)),
        )
    )
    ok = all(value == "ok" for value in results.values())
    return JSONResponse({"status": "ok" if ok else "degraded", "checks": results}, status_code=200 if ok else 503)
