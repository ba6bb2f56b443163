"""/health/live and /health/ready (Postgres; NATS is reported but not required)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from control_plane.deps import StateDep

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready when Postgres answers: changes are committed there and reach KV at the next reconcile."""
    try:
        async with asyncio.timeout(2), state.admin_engine.connect() as conn:
            await conn.execute(text("select 1"))
        postgres = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        postgres = f"down: {type(exc).__name__}"
    checks = {"postgres": postgres, "nats": "ok" if state.publisher.connected else "down"}
    ok = postgres == "ok"
    return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503)
