"""/health/live and /health/ready (Postgres, NATS, Redis)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse
from sqlalchemy import text

from gateway.deps import StateDep

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(name: str, probe: object) -> tuple[str, str]:
    try:
        async with asyncio.timeout(2):
            await probe  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - any failing dependency means "not ready", reported by name
        return name, f"down: {type(exc).__name__}"
    return name, "ok"


@router.get("/ready")
async def ready(state: StateDep) -> ORJSONResponse:
    """Ready when Postgres, NATS and Redis all answer."""

    async def pg() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def nats_ok() -> None:
        if not state.nats.is_connected:
            raise ConnectionError("nats disconnected")
        await state.nats.flush(timeout=1)

    results = dict(
        await asyncio.gather(_check("postgres", pg()), _check("nats", nats_ok()), _check("redis", state.redis.ping()))
    )
    ok = all(value == "ok" for value in results.values())
    return ORJSONResponse({"status": "ok" if ok else "degraded", "checks": results}, status_code=200 if ok else 503)
