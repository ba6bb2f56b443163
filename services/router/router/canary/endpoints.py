"""`/admin/router/canary`: what the monitor last saw, and a look now (platform-admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.auth import AdminDep
from router.canary.schemas import MonitorOut, evaluation_out
from router.state import AdminStateDep

__all__ = ["router"]

router = APIRouter(prefix="/admin/router/canary", tags=["router canary"], dependencies=[AdminDep])


def _out(state: AdminStateDep) -> MonitorOut:
    monitor = state.monitor
    return MonitorOut(
        window_s=monitor.window_s,
        alpha=monitor.thresholds.alpha,
        min_decisions=monitor.thresholds.min_decisions,
        evaluation=evaluation_out(monitor.last),
    )


@router.get("")
async def canary_status(state: AdminStateDep) -> MonitorOut:
    """The monitor's last comparison of the running canary with the stable version (null: no canary)."""
    return _out(state)


@router.post("/evaluate")
async def evaluate_now(state: AdminStateDep) -> MonitorOut:
    """Compare now instead of at the next tick, and act on the verdict (roll back, promote or wait)."""
    await state.monitor.evaluate()
    return _out(state)
