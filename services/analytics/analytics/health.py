"""/health/live and /health/ready (Postgres, as the runtime and the admin role)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.deps import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("select 1"))


async def _check(name: str, probe: Awaitable[None]) -> tuple[str, str]:
    try:
        async with asyncio.timeout(2):
            await probe
    except Exception as exc:  # noqa: BLE001 - any failing dependency means "not ready", reported by name
        return name, f"down: {type(exc).__name__}"
    return name, "ok"


@router.get("/ready")
async def ready(state: StateDep) -> ORJSONResponse:
    """Ready when Postgres answers on both connection roles."""
    results = dict(
        await asyncio.gather(
            _check("postgres", _ping(state.engine)), _check("postgres_admin", _ping(state.admin_engine))
        )
    )
    ok = all(value == "ok" for value in results.values())
    return ORJSONResponse({"status": "ok" if ok else "degraded", "checks": results}, status_code=200 if ok else 503)
