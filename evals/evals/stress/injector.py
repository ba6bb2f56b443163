"""Applies the schedule to the running stack through its own fault and control APIs, and logs what it applied.

Per episode (before its run is created): the toolbox seed, a toolbox fault rule for the episode's tenant (the
toolbox keys rules by tenant and operation, and every episode has a tenant of its own, so the rule hits that
episode only), a provider-simulator rule matching the episode's tag (`when_text_contains`). After the create: a
redelivery (the run's start request published again under a new message id). Stack events: SIGKILL of a worker
(restarted after `down_s`), NATS stopped for `down_s`, the app_runtime backends of the stack's database terminated,
a poison message on the run stream, a toolbox outage (every tenant, `requests` answers of 503).

The log (`applied`) is hashed as the schedule is: equal hashes prove the run injected what was planned.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
from nats.aio.client import Client as NatsClient

from aiaas.events import EventEnvelope, event_id
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested
from evals.runner.database import superuser_dsn
from evals.stress.schedule import EpisodeFaults, StackEvent, canonical_hash, toolbox_rule
from evals.stress.stack import StressStack

__all__ = ["Injector"]

log = logging.getLogger(__name__)
_RETRY_S = 0.5


class Injector:
    def __init__(self, stack: StressStack, http: aiohttp.ClientSession, nc: NatsClient, deadline: float) -> None:
        self.stack = stack
        self.http = http
        self.nc = nc
        self.deadline = deadline  # monotonic: publishing retries stop here
        self.applied_episodes: dict[int, dict[str, Any]] = {}
        self.applied_events: list[dict[str, Any]] = []
        self.fault_times: list[float] = []  # monotonic: when each fault finished being injected
        self.poison = 0
        self.kills = 0
        self.background: set[asyncio.Task[None]] = set()

    # --- per episode -------------------------------------------------------------------------------------------
    async def _post(self, url: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
        async with self.http.post(url, json=body) as resp:
            if resp.status != expect:
                raise RuntimeError(f"POST {url} -> {resp.status}: {(await resp.text())[:500]}")
            answer: dict[str, Any] = await resp.json()
            return answer

    async def prepare(self, faults: EpisodeFaults, tenant: str, toolbox_seed: dict[str, Any] | None) -> None:
        toolbox = self.stack.urls["toolbox"]
        if toolbox_seed is not None:
            await self._post(f"{toolbox}/control/seed", {**toolbox_seed, "tenant": tenant}, 200)
        applied: dict[str, Any] = {"index": faults.index, "model": None, "tool": None, "redeliver": False}
        if faults.tool is not None:
            await self._post(f"{toolbox}/control/faults", toolbox_rule(tenant, faults.tool), 201)
            applied["tool"] = faults.tool
        if faults.model is not None:
            rule = {
                "model": "*",
                "fault": faults.model["kind"],
                "count": faults.model["count"],
                "when_text_contains": faults.tag,
            }
            await self._post(f"{self.stack.urls['provider-sim']}/_sim/faults", rule, 201)
            applied["model"] = faults.model
        if faults.tool is not None or faults.model is not None:
            self.fault_times.append(time.monotonic())
        self.applied_episodes[faults.index] = applied

    async def redeliver(self, faults: EpisodeFaults, tenant: uuid.UUID, run_id: uuid.UUID, agent: str) -> None:
        """The run's start request again, as a second delivery (its own message id: JetStream keeps it)."""
        data = OrchRunRequested(run_id=run_id, agent=agent, reason="start", sequence=0)
        event = EventEnvelope(
            id=event_id(ORCH_RUN_REQUESTED, str(run_id), "start", "0", "stress-redelivery"),
            type=ORCH_RUN_REQUESTED,
            tenant_id=tenant,
            data=data.model_dump(mode="json"),
        )
        await self._publish(event.subject, event.to_json(), str(event.id))
        self.applied_episodes[faults.index]["redeliver"] = True
        self.fault_times.append(time.monotonic())

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        while True:
            try:
                await self.nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=2)
                return
            except Exception as exc:  # noqa: BLE001 - NATS may be down on purpose: retried until the deadline
                if time.monotonic() > self.deadline:
                    raise RuntimeError(f"publish to {subject} failed until the deadline: {exc!r}") from exc
                await asyncio.sleep(_RETRY_S)

    # --- stack events ---------------------------------------------------------------------------------------------
    async def fire(self, event: StackEvent) -> None:
        self.applied_events.append({"ordinal": event.ordinal, "kind": event.kind, "at_episode": event.at_episode})
        log.warning("stress: %s at episode %d", event.kind, event.at_episode)
        if event.kind == "worker_kill":
            names = self.stack.worker_names()
            name = names[self.kills % len(names)]
            self.kills += 1
            await asyncio.to_thread(self.stack.kill_worker, name)
            self.fault_times.append(time.monotonic())
            self._later(self._restart_worker(name, event.down_s or 0.0))
        elif event.kind == "nats_restart":
            self._later(self._restart_nats(event.down_s or 0.0))
        elif event.kind == "pg_terminate":
            await self._pg_terminate()
        elif event.kind == "poison":
            await self._publish(f"{ORCH_RUN_REQUESTED}.{uuid.uuid4()}", b'{"poison": true}', f"poison-{uuid.uuid4()}")
            self.poison += 1
            self.fault_times.append(time.monotonic())
        elif event.kind == "toolbox_outage":
            rule = {"tenant": "*", "operation": "*", "status": 503, "count": event.requests, "retry_after": 0}
            await self._post(f"{self.stack.urls['toolbox']}/control/faults", rule, 201)
            self.fault_times.append(time.monotonic())
        else:
            raise ValueError(f"unknown stack event {event.kind!r}")

    def _later(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _restart_worker(self, name: str, down_s: float) -> None:
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.stack.start_worker, name)
        self.fault_times.append(time.monotonic())

    async def _restart_nats(self, down_s: float) -> None:
        assert self.stack.nats is not None
        await asyncio.to_thread(self.stack.nats.stop)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.stack.nats.start)
        self.fault_times.append(time.monotonic())

    async def _pg_terminate(self) -> None:
        """Every app_runtime backend of the stack's database (the workers' run and checkpoint connections, and
        the API's) terminated: the services must reconnect and the runs in flight recover."""
        conn = await asyncpg.connect(superuser_dsn())
        try:
            killed = await conn.fetchval(
                "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity"
                " where datname = $1 and usename = 'app_runtime'",
                self.stack.database,
            )
        finally:
            await conn.close()
        log.warning("stress: %s Postgres backends terminated", killed)
        self.fault_times.append(time.monotonic())

    async def wait_background(self) -> None:
        if self.background:
            await asyncio.gather(*self.background)

    def applied_hash(self) -> str:
        """Hash of what was injected, in the schedule's own terms (compare with the schedule's hash of the same)."""
        episodes = [self.applied_episodes[i] for i in sorted(self.applied_episodes)]
        events = sorted(self.applied_events, key=lambda e: (e["at_episode"], e["ordinal"]))
        return canonical_hash({"episodes": episodes, "events": events})
