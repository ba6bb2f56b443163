"""The STRESS report: JSON to `evals/reports/stress-<plan>-<seed>-<utc>.json` (gitignored) and one summary line.

A failing run names each failed invariant and the seed, so `--seed <it>` replays the same schedule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.loader import EVALS_DIR
from evals.stress.checks import Check
from evals.stress.plan import FaultPlan
from evals.stress.schedule import Schedule

__all__ = ["REPORTS_DIR", "StressReport"]

REPORTS_DIR = EVALS_DIR / "reports"
# Test stand-ins for the outside world: the toolbox keeps every tenant's orders, charges and leads in memory (one
# tenant per episode here), so it grows with N by design; the platform's own processes are the rest.
_STAND_INS = frozenset({"toolbox", "provider-sim"})


@dataclass
class StressReport:
    plan: FaultPlan
    seed: int
    source: str
    schedule: Schedule
    replanned_hash: str
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    rss: dict[str, dict[str, float]] = field(default_factory=dict)
    throughput_eps: float = 0.0
    logs: str | None = None

    def add(self, check: Check) -> None:
        self.checks.append(check)

    def schedule_check(self, applied_hash: str) -> Check:
        planned = self.schedule.injection_hash()
        ok = self.replanned_hash == self.schedule.hash and applied_hash == planned
        detail = {
            "schedule_hash": self.schedule.hash,
            "replanned_hash": self.replanned_hash,
            "planned_injection_hash": planned,
            "applied_injection_hash": applied_hash,
        }
        return Check("schedule", ok, detail)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and not self.failed

    def as_dict(self) -> dict[str, Any]:
        rss_max = max((p["growth_pct"] for p in self.rss.values()), default=None)
        platform = [p["growth_pct"] for name, p in self.rss.items() if name not in _STAND_INS]
        rss_platform = max(platform, default=None)
        return {
            "kind": "stress",
            "plan": self.plan.name,
            "plan_file": self.plan.source,
            "seed": self.seed,
            "episodes": self.source,
            "n": self.plan.n,
            "concurrency": self.plan.concurrency,
            "workers": self.plan.workers,
            "schedule_hash": self.schedule.hash,
            "ok": self.ok,
            "failed": self.failed,
            "checks": [check.as_dict() for check in self.checks],
            "counts": self.counts,
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
            "throughput_eps": round(self.throughput_eps, 3),
            "rss_growth": {
                "processes": self.rss,
                "max_pct": rss_max,
                "max_pct_platform": rss_platform,
                "stand_ins": sorted(_STAND_INS),
                "goal_pct": 10.0,
            },
            "logs": self.logs,
        }

    def summary(self) -> str:
        verdict = "PASS" if self.ok else f"FAIL {','.join(self.failed)}"
        took = self.timings.get("total_s", 0.0)
        return (
            f"STRESS {self.plan.name} seed={self.seed} n={self.plan.n} c={self.plan.concurrency}: {verdict}"
            f" ({len(self.checks) - len(self.failed)}/{len(self.checks)} invariants)"
            f" schedule={self.schedule.hash[:16]} {took:.1f}s {self.throughput_eps:.2f} eps"
        )

    def write(self, reports_dir: Path = REPORTS_DIR) -> Path:
        reports_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = reports_dir / f"stress-{self.plan.name}-{self.seed}-{stamp}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        return path
