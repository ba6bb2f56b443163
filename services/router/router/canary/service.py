"""The canary monitor: every `interval_s`, the canary against the stable version over the sliding window.

The window is the last `window_s` seconds (`aiaas.clock`, or the `now` a test injects), never reaching back
before the canary's activation; both arms are read over the same span. `rules.verdict` decides: a rate worse
beyond its margin with confidence rolls the canary back at once (share 0, `router.canary.rolled_back` with the
numbers); a whole window since activation with enough decisions and nothing worse promotes it
(`router.canary.promoted`, the old stable retired). The status change goes through `VersionAdmin.end_canary`,
which ignores a verdict on a canary run that an admin already ended.

Gauges show the running comparison (`router_canary_rate{metric,arm}`, `router_canary_z{metric}`,
`router_canary_share`, `router_canary_decisions{arm}`); counters the outcomes, the monitor's and the admins'
(`router_canary_rollbacks_total{trigger}`, `router_canary_promotions_total{trigger}`, in canary/events.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session
from aiaas.tasks import stop_tasks
from router.canary import repository as repo
from router.canary.rules import ArmCounts, Thresholds, Verdict, slow_threshold, verdict
from router.versions import repository as versions_repo
from router.versions.service import CanaryVerdictNumbers, Outcome, VersionAdmin

__all__ = ["CanaryMonitor", "Evaluation"]

_log = logging.getLogger(__name__)

_RATE = Gauge("router_canary_rate", "Canary monitor: a rate over the window", ["metric", "arm"])
_Z = Gauge("router_canary_z", "Canary monitor: one-sided z of canary vs stable", ["metric"])
_SHARE = Gauge("router_canary_share", "The running canary's share of conversations (0 = none)")
_DECISIONS = Gauge("router_canary_decisions", "Canary monitor: decisions per arm in the window", ["arm"])


@dataclass(frozen=True)
class Evaluation:
    """One look at the running canary: what was compared and what came of it."""

    canary: str
    stable: str
    share: float
    activated_at: datetime
    window_start: datetime
    window_end: datetime
    canary_counts: ArmCounts
    stable_counts: ArmCounts
    verdict: Verdict
    applied: bool


class CanaryMonitor:
    """Compares the canary with the stable version and rolls back or promotes it."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        versions: VersionAdmin,
        *,
        default_version: str,
        window_s: float = 300.0,
        interval_s: float = 5.0,
        thresholds: Thresholds | None = None,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        if window_s <= 0 or interval_s <= 0:
            raise ValueError("window_s and interval_s must be > 0")
        self._sessions = sessions
        self._versions = versions
        self._default_version = default_version
        self.window_s = window_s
        self._interval_s = interval_s
        self.thresholds = thresholds or Thresholds()
        self._now = now
        self.last: Evaluation | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="router-canary-monitor")

    async def close(self) -> None:
        await stop_tasks(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.evaluate()
            except Exception:  # noqa: BLE001 - the monitor outlives a database blip; the next tick tries again
                _log.warning("canary evaluation failed", exc_info=True)
            await asyncio.sleep(self._interval_s)

    async def evaluate(self) -> Evaluation | None:
        """Look at the running canary now and act on the verdict; None when no canary runs."""
        now = self._now()
        async with admin_session(self._sessions) as session:
            serving = await versions_repo.serving_rows(session)
            canary = next((row for row in serving if row.status == "canary"), None)
            stable = next((row.id for row in serving if row.status == "stable"), self._default_version)
            if canary is None:
                _SHARE.set(0)
                self.last = None
                return None
            start = max(now - timedelta(seconds=self.window_s), canary.activated_at)
            canary_counts, stable_counts, threshold = await self._arms(session, canary.id, stable, start, now)
        full_window = (now - canary.activated_at).total_seconds() >= self.window_s
        result = verdict(
            canary_counts, stable_counts, threshold_ms=threshold, full_window=full_window, thresholds=self.thresholds
        )
        self._gauges(canary.share, canary_counts, stable_counts, result)
        applied = False
        if result.action != "wait":
            numbers = CanaryVerdictNumbers(
                window_s=self.window_s,
                alpha=self.thresholds.alpha,
                comparisons=result.comparisons,
                latency=result.latency,
            )
            outcome: Outcome = "rolled_back" if result.action == "rollback" else "promoted"
            ended = await self._versions.end_canary(canary.id, canary.activated_at, outcome, result.reason, numbers)
            applied = ended is not None
            if applied:
                _SHARE.set(0)
                _log.warning("canary %s %s: %s", canary.id, outcome.replace("_", " "), result.reason)
        self.last = Evaluation(
            canary=canary.id,
            stable=stable,
            share=canary.share,
            activated_at=canary.activated_at,
            window_start=start,
            window_end=now,
            canary_counts=canary_counts,
            stable_counts=stable_counts,
            verdict=result,
            applied=applied,
        )
        return self.last

    async def _arms(
        self, session: AsyncSession, canary: str, stable: str, start: datetime, end: datetime
    ) -> tuple[ArmCounts, ArmCounts, float | None]:
        rows = {
            arm: await repo.arm_counts(session, version=version, canary=arm == "canary", start=start, end=end)
            for arm, version in (("canary", canary), ("stable", stable))
        }
        threshold = slow_threshold(rows["stable"].p95_ms, self.thresholds)
        counts = []
        for arm, version in (("canary", canary), ("stable", stable)):
            row = rows[arm]
            slow = 0
            if threshold is not None and row.timed:
                slow = await repo.slow_count(
                    session, version=version, canary=arm == "canary", start=start, end=end, threshold_ms=threshold
                )
            counts.append(
                ArmCounts(
                    n=row.n,
                    misroutes=row.misroutes,
                    errors=row.errors,
                    timed=row.timed,
                    slow=slow,
                    p50_ms=row.p50_ms,
                    p95_ms=row.p95_ms,
                )
            )
        return counts[0], counts[1], threshold

    @staticmethod
    def _gauges(share: float, canary: ArmCounts, stable: ArmCounts, result: Verdict) -> None:
        _SHARE.set(share)
        _DECISIONS.labels(arm="canary").set(canary.n)
        _DECISIONS.labels(arm="stable").set(stable.n)
        for comparison in result.comparisons:
            _RATE.labels(metric=comparison.metric, arm="canary").set(comparison.canary_rate)
            _RATE.labels(metric=comparison.metric, arm="stable").set(comparison.stable_rate)
            _Z.labels(metric=comparison.metric).set(comparison.z)
