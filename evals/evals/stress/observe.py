"""What a STRESS run watches while it runs: run statuses (one cross-tenant query a tick, as platform_admin on the
stack's database), the workers' breaker and bulkhead gauges (their metrics listeners, every `every_s`) and the
resident memory of every process (/proc, for the RSS growth after warm-up).

Gauges are sampled, so a bulkhead peak between two samples can be missed; the breaker stays open for its whole
cool-down (30 s), far longer than a sample interval, so its opening is never missed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from aiaas_testing import scrape_metrics
from evals.stress.stack import StressStack

__all__ = ["MetricsWatcher", "RunWatcher", "TERMINAL", "plain_dsn"]

TERMINAL = frozenset({"succeeded", "failed", "compensated", "cancelled", "expired"})


def plain_dsn(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+asyncpg://`) as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class RunWatcher:
    admin_url: str
    every_s: float = 0.5
    status: dict[uuid.UUID, str] = field(default_factory=dict)
    terminal_at: dict[uuid.UUID, float] = field(default_factory=dict)  # monotonic, first seen terminal
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def watch(self, run_id: uuid.UUID) -> None:
        self.status.setdefault(run_id, "queued")

    async def run(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = await asyncpg.connect(plain_dsn(self.admin_url))
                await self._tick(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn = None  # reconnect next tick
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
            except TimeoutError:
                continue
        if conn is not None:
            await conn.close()

    async def _tick(self, conn: asyncpg.Connection) -> None:
        pending = [run_id for run_id, status in self.status.items() if status not in TERMINAL]
        if not pending:
            return
        rows = await conn.fetch("select id, status from orch_runs where id = any($1::uuid[])", pending)
        now = time.monotonic()
        for row in rows:
            if row["status"] != self.status.get(row["id"]):
                self.status[row["id"]] = row["status"]
                if row["status"] in TERMINAL:
                    self.terminal_at[row["id"]] = now
        self.changed.set()

    async def wait_change(self, timeout_s: float) -> None:
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), timeout=timeout_s)
        except TimeoutError:
            return


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class MetricsWatcher:
    stack: StressStack
    every_s: float = 0.25
    # (worker, generation) -> breaker states seen, in order, without repeats
    breaker: dict[str, list[int]] = field(default_factory=dict)
    max_in_flight: dict[str, float] = field(default_factory=dict)  # tool -> most seen on one worker at once
    outcomes: dict[str, float] = field(default_factory=dict)  # "tool/outcome" -> last count (summed over workers)
    samples: int = 0
    rss_first: dict[str, tuple[int, int]] = field(default_factory=dict)  # process -> (pid, KiB) at warm-up
    rss_last: dict[str, tuple[int, int]] = field(default_factory=dict)
    rss_peak: dict[str, int] = field(default_factory=dict)
    warm_after: int = 0  # episodes a process must have seen submitted since it started before its baseline
    submitted: int = 0  # episodes submitted so far (the engine counts)
    born_at: dict[int, int] = field(default_factory=dict)  # pid -> episodes submitted when it was first seen

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
            except TimeoutError:
                continue

    async def sample(self) -> None:
        self.samples += 1
        outcomes: dict[str, float] = {}
        for name, url in list(self.stack.worker_metrics.items()):
            try:
                samples = await scrape_metrics(url)
            except (TimeoutError, OSError, AssertionError):
                continue  # killed or restarting
            key = f"{name}#{self.stack.generations.get(name, 0)}"
            for sample in samples:
                if sample.name == "circuit_breaker_state" and sample.labels.get("key") == "toolbox":
                    seen = self.breaker.setdefault(key, [])
                    if not seen or seen[-1] != int(sample.value):
                        seen.append(int(sample.value))
                elif sample.name == "tool_calls_in_flight":
                    tool = sample.labels.get("tool", "")
                    self.max_in_flight[tool] = max(self.max_in_flight.get(tool, 0.0), sample.value)
                elif sample.name == "tool_calls_total":
                    label = f"{sample.labels.get('tool')}/{sample.labels.get('outcome')}"
                    outcomes[label] = outcomes.get(label, 0.0) + sample.value
        if outcomes:
            self.outcomes = outcomes
        self._rss()

    def _rss(self) -> None:
        for name, pid in self.stack.pids().items():
            kib = _rss_kib(pid)
            if kib is None:
                continue
            born = self.born_at.setdefault(pid, self.submitted)
            if self.submitted - born >= self.warm_after and self.rss_first.get(name, (0, 0))[0] != pid:
                # First sample once this process has seen `warm_after` episodes go by: a worker restarted after a
                # kill gets a warm-up of its own instead of a baseline taken while it was still importing.
                self.rss_first[name] = (pid, kib)
            self.rss_last[name] = (pid, kib)
            self.rss_peak[name] = max(self.rss_peak.get(name, 0), kib)

    def rss_growth(self) -> dict[str, dict[str, float]]:
        """Per process, from its warm baseline to the end (a process killed after its baseline is left out)."""
        growth = {}
        for name, (pid, first) in self.rss_first.items():
            last_pid, last = self.rss_last.get(name, (0, 0))
            if last_pid != pid or first <= 0:
                continue
            growth[name] = {"warm_kib": first, "end_kib": last, "growth_pct": round(100.0 * (last - first) / first, 2)}
        return growth
