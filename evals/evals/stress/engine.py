"""One STRESS run: the schedule computed up front, the stack started, N episodes submitted C at a time through the
orchestrator API while the injector applies the schedule, then the invariants (checks.py) read from the system.

Each episode has a tenant of its own: the toolbox's fault rules and counters are per tenant, so a tool fault hits
exactly its episode, and Order runs never contend for the same order lock.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats

from aiaas.db import create_engine, session_factory
from aiaas_testing import TenantWithKey
from aiaas_testing.tenants import create_tenant_with_key
from evals.stress import checks
from evals.stress.client import OrchClient
from evals.stress.episodes import Episode, load_episodes, tag_for
from evals.stress.injector import Injector
from evals.stress.observe import TERMINAL, MetricsWatcher, RunWatcher, plain_dsn
from evals.stress.plan import FaultPlan
from evals.stress.report import StressReport
from evals.stress.schedule import EpisodeFaults, Schedule, build_schedule
from evals.stress.stack import StressStack

__all__ = ["StressRun"]

log = logging.getLogger(__name__)
_HARD_CAP_S = 3600.0
_PROBE_EVERY_S = 2.0


async def _nats_error(exc: Exception) -> None:
    """NATS goes away on purpose (nats_restart): one line, not a traceback per reconnect attempt."""
    log.info("nats: %r", exc)


@dataclass
class _Episode:
    episode: Episode
    faults: EpisodeFaults
    tenant: TenantWithKey
    run_id: uuid.UUID | None = None
    error: str | None = None


class StressRun:
    def __init__(self, plan: FaultPlan, seed: int, episodes: list[Episode], source: str, run_dir: Path | None) -> None:
        self.plan = plan
        self.seed = seed
        self.episodes = episodes
        self.source = source
        self.schedule: Schedule = build_schedule(plan, seed, episodes)
        self.run_dir = run_dir
        self.settle_deadline: float | None = None
        self.last_fault: float | None = None  # monotonic: when the last fault finished being injected
        self.hard_deadline = 0.0

    def replanned_hash(self) -> str:
        """The schedule built again from scratch (episodes reloaded): equal to `schedule.hash` or not pure."""
        return build_schedule(self.plan, self.seed, load_episodes(self.source, self.plan, self.seed)).hash

    def deadline(self) -> float:
        return self.settle_deadline if self.settle_deadline is not None else self.hard_deadline

    async def execute(self) -> StressReport:
        started = time.monotonic()
        self.hard_deadline = started + _HARD_CAP_S
        tmp = tempfile.TemporaryDirectory(prefix="stress-") if self.run_dir is None else None
        run_dir = self.run_dir or Path(tmp.name)  # type: ignore[union-attr]
        stack = StressStack(
            run_dir, workers=self.plan.workers, worker_max_inflight=int(self.plan.data["worker_max_inflight"])
        )
        report = StressReport(self.plan, self.seed, self.source, self.schedule, self.replanned_hash())
        try:
            await stack.start()
            report.timings["setup_s"] = time.monotonic() - started
            report.timings.update(stack.timings)
            await self._run(stack, report)
        finally:
            report.logs = str(run_dir)
            await stack.stop()
            if tmp is not None:
                report.logs = None
                tmp.cleanup()
        report.timings["total_s"] = time.monotonic() - started
        return report

    async def _tenants(self, stack: StressStack, count: int) -> list[TenantWithKey]:
        """`count` fresh tenants with a key each, made 8 at a time (one at a time took 31 s for 1000)."""
        assert stack.infra is not None
        engine = create_engine(stack.infra.admin_database_url, pool_size=8)
        slots = asyncio.Semaphore(8)
        sessions = session_factory(engine)

        async def one() -> TenantWithKey:
            async with slots:
                return await create_tenant_with_key(sessions)

        try:
            return list(await asyncio.gather(*(one() for _ in range(count))))
        finally:
            await engine.dispose()

    async def _run(self, stack: StressStack, report: StressReport) -> None:
        assert stack.infra is not None and stack.nats is not None
        began = time.monotonic()
        tenants = await self._tenants(stack, len(self.episodes))
        report.timings["tenants_s"] = time.monotonic() - began
        work = [_Episode(ep, f, t) for ep, f, t in zip(self.episodes, self.schedule.episodes, tenants, strict=True)]
        timeout = aiohttp.ClientTimeout(total=30)
        nc = await nats.connect(
            stack.nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=_nats_error
        )
        async with aiohttp.ClientSession(timeout=timeout) as http:
            client = OrchClient(http, stack.urls["orchestrator"])
            injector = Injector(stack, http, nc, self.hard_deadline)
            runs = RunWatcher(stack.infra.admin_database_url)
            metrics = MetricsWatcher(stack)
            stop = asyncio.Event()
            watchers = [asyncio.create_task(runs.run(stop)), asyncio.create_task(metrics.run(stop))]
            t0 = time.monotonic()
            try:
                await self._submit(work, client, injector, runs, metrics)
                probes = await self._probe_breaker(stack, client, injector, runs, metrics)
                report.timings["run_s"] = time.monotonic() - t0
                await metrics.sample()
                stop.set()
                await asyncio.gather(*watchers)
                await self._check(stack, http, nc, work + probes, injector, runs, metrics, report, t0)
            finally:
                stop.set()
                await nc.close()

    async def _submit(
        self, work: list[_Episode], client: OrchClient, injector: Injector, runs: RunWatcher, metrics: MetricsWatcher
    ) -> None:
        slots = asyncio.Semaphore(self.plan.concurrency)
        tasks = []
        metrics.warm_after = max(1, int(self.plan.warmup * len(work)))
        for item in work:
            metrics.submitted = item.episode.index
            for event in self.schedule.events_at(item.episode.index):
                await injector.fire(event)
            await slots.acquire()
            task = asyncio.create_task(self._episode(item, client, injector, runs))
            task.add_done_callback(lambda _t: slots.release())
            tasks.append(task)
        metrics.submitted = len(work)
        await injector.wait_background()
        last = max([*injector.fault_times, time.monotonic()])
        self.settle_deadline = last + self.plan.settle_s
        self.last_fault = max(injector.fault_times, default=last)
        await asyncio.gather(*tasks)

    async def _episode(self, item: _Episode, client: OrchClient, injector: Injector, runs: RunWatcher) -> None:
        ep, auth = item.episode, item.tenant.auth
        try:
            await injector.prepare(item.faults, str(item.tenant.id), ep.toolbox_seed)
            item.run_id = await client.create(ep.agent, ep.input, ep.tag, auth, self.deadline())
            runs.watch(item.run_id)
            if item.faults.redeliver:
                await injector.redeliver(item.faults, item.tenant.id, item.run_id, ep.agent)
            await self._until_terminal(item, client, runs)
        except Exception as exc:  # noqa: BLE001 - one episode's error is reported, the others go on
            log.exception("episode %d failed", ep.index)
            item.error = repr(exc)[:500]

    async def _until_terminal(self, item: _Episode, client: OrchClient, runs: RunWatcher) -> None:
        assert item.run_id is not None
        resumes = list(item.episode.resume)
        acted_at: float | None = None
        while time.monotonic() < self.deadline():
            status = runs.status.get(item.run_id)
            if status in TERMINAL:
                return
            if status == "interrupted" and (acted_at is None or time.monotonic() - acted_at > 5.0):
                # Approve (or deny) as the episode says; an episode with no resume value left is cancelled.
                if resumes:
                    await client.resume(item.run_id, resumes.pop(0), item.tenant.auth, self.deadline())
                else:
                    await client.cancel(item.run_id, item.tenant.auth, self.deadline())
                acted_at = time.monotonic()
            await runs.wait_change(1.0)

    async def _probe_breaker(
        self, stack: StressStack, client: OrchClient, injector: Injector, runs: RunWatcher, metrics: MetricsWatcher
    ) -> list[_Episode]:
        """A breaker closes only when a call probes the dependency after its cool-down: while a live worker's
        toolbox breaker is still open, send one more Lead run every 2 s (new tenants, no faults) as that traffic."""
        probes: list[_Episode] = []
        if not any(e.kind == "toolbox_outage" for e in self.schedule.events):
            return probes
        while time.monotonic() < self.deadline():
            await metrics.sample()
            live = {f"{name}#{stack.generations[name]}" for name in stack.worker_metrics}
            if not any(metrics.breaker.get(key, [0])[-1] != 0 for key in live):
                break
            index = len(self.episodes) + len(probes)
            tenant = (await self._tenants(stack, 1))[0]
            tag = tag_for(self.seed, index)
            run_input = {"email": f"probe{index}@example.com", "name": "Probe", "message": f"Probe (ref {tag})"}
            episode = Episode(index, "lead", run_input, tag, origin="breaker-probe")
            item = _Episode(episode, EpisodeFaults(index, "lead", tag, None, None, False), tenant)
            probes.append(item)
            await self._episode(item, client, injector, runs)
            await asyncio.sleep(_PROBE_EVERY_S)
        return probes

    async def _check(
        self,
        stack: StressStack,
        http: aiohttp.ClientSession,
        nc: Any,
        work: list[_Episode],
        injector: Injector,
        runs: RunWatcher,
        metrics: MetricsWatcher,
        report: StressReport,
        t0: float,
    ) -> None:
        assert stack.infra is not None
        run_ids = [item.run_id for item in work if item.run_id is not None]
        admin = plain_dsn(stack.infra.admin_database_url)
        live = {f"{name}#{stack.generations[name]}" for name in stack.worker_metrics}
        expects_breaker = any(e.kind == "toolbox_outage" for e in self.schedule.events)
        steps: list[Callable[[], Awaitable[checks.Check]]] = [
            lambda: checks.effects_check(http, stack.urls["toolbox"], [str(i.tenant.id) for i in work]),
            lambda: checks.saga_check(admin, run_ids),
            lambda: checks.tool_events_check(nc, set(run_ids)),
            lambda: checks.dlq_check(nc, injector.poison),
        ]
        report.add(self._terminal_check(work, runs, t0))
        for step in steps:
            report.add(await step())
        report.add(checks.breaker_check(metrics.breaker, live, expects_breaker))
        report.add(checks.bulkhead_check(metrics.max_in_flight, metrics.outcomes))
        report.add(report.schedule_check(injector.applied_hash()))
        report.rss = metrics.rss_growth()
        report.counts = {
            **self.schedule.counts(),
            "probe_runs": len(work) - len(self.episodes),
            "episode_errors": sum(1 for item in work if item.error is not None),
        }
        report.throughput_eps = len(run_ids) / max(report.timings.get("run_s", 1.0), 1e-9)

    def _terminal_check(self, work: list[_Episode], runs: RunWatcher, t0: float) -> checks.Check:
        missing = [
            {
                "index": i.episode.index,
                "run_id": str(i.run_id),
                "status": runs.status.get(i.run_id) if i.run_id else None,
                "error": i.error,
            }
            for i in work
            if i.run_id is None or runs.status.get(i.run_id) not in TERMINAL
        ]
        last_terminal = max(runs.terminal_at.values(), default=t0)
        after_fault = last_terminal - (self.last_fault if self.last_fault is not None else t0)
        ok = not missing and after_fault <= self.plan.settle_s
        detail: dict[str, Any] = {
            "runs": len(work),
            "not_terminal": missing[:20],
            "last_terminal_after_last_fault_s": round(after_fault, 2),
            "settle_s": self.plan.settle_s,
        }
        return checks.Check("terminal", ok, detail)
