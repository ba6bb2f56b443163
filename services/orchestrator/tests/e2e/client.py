"""What the e2e tests do to the stack: runs over HTTP or straight onto JetStream, documents, and what they read
back (the run, its history, the gateway's `requests` rows, the toolbox's effects, the ORCH_EVENTS stream)."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from aiaas.events import EventEnvelope, event_id
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested
from aiaas.flags.seed import ORCHESTRATOR_FLAGS
from aiaas_testing import TenantWithKey
from orchestrator.agents.manifest import BUILTIN_MANIFESTS

HELP_CENTRE = Path(__file__).resolve().parents[3] / "ingestion" / "tests" / "fixtures" / "help_centre"
SETTLED = frozenset({"interrupted", "succeeded", "failed", "compensated", "cancelled", "expired"})
TERMINAL = SETTLED - {"interrupted"}
# Every run the e2e tests create through the API, (tenant, run): replayed EXACT before the e2e database is dropped
# (issue 16 acceptance 5: the episode record of any run is complete).
CREATED_RUNS: list[tuple[uuid.UUID, uuid.UUID]] = []


class Orch:
    """One tenant's calls to the orchestrator API."""

    def __init__(self, http: aiohttp.ClientSession, url: str, tenant: TenantWithKey) -> None:
        self.http = http
        self.url = f"{url}/v1/orchestrator"
        self.tenant = tenant

    async def create(self, agent: str, input: dict[str, Any], *, key: str | None = None) -> uuid.UUID:
        body = {"agent": agent, "input": input, "idempotency_key": key or f"e2e-{uuid.uuid4()}"}
        async with self.http.post(f"{self.url}/runs", json=body, headers=self.tenant.auth) as resp:
            assert resp.status in (200, 202), await resp.text()
            run_id = uuid.UUID((await resp.json())["run_id"])
        CREATED_RUNS.append((self.tenant.id, run_id))
        return run_id

    async def get(self, run_id: uuid.UUID) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/runs/{run_id}", headers=self.tenant.auth) as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body

    async def history(self, run_id: uuid.UUID) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/runs/{run_id}/history", headers=self.tenant.auth) as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body

    async def resume(self, run_id: uuid.UUID, value: Any) -> None:
        async with self.http.post(
            f"{self.url}/runs/{run_id}/resume", json={"value": value}, headers=self.tenant.auth
        ) as resp:
            assert resp.status == 202, await resp.text()

    async def settle(self, run_id: uuid.UUID, *, until: frozenset[str] = SETTLED, timeout_s: float = 60) -> dict:
        """Poll the run until its status is one of `until`."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = await self.get(run_id)
            if run["status"] in until:
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {timeout_s}s"
            await asyncio.sleep(0.2)


async def upload_help_centre(http: aiohttp.ClientSession, ingestion_url: str, tenant: TenantWithKey) -> list[str]:
    """The shipped help-centre documents into the tenant's knowledge base (inline: ready on return)."""
    names = []
    for path in sorted(HELP_CENTRE.iterdir()):
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name)
        async with http.post(f"{ingestion_url}/v1/ingestion/documents", data=form, headers=tenant.auth) as resp:
            assert resp.status == 202, await resp.text()
        names.append(path.name)
    return names


_INSERT_RUN = text(
    "insert into orch_runs (id, tenant_id, idempotency_key, agent, agent_version, versions, model_alias, seed, input,"
    " input_sha256, flags, status, created_at, updated_at) values (:id, :tenant_id, :key, :agent, :version,"
    " cast(:versions as jsonb), :alias, :seed, cast(:input as jsonb), :sha, cast(:flags as jsonb), 'queued', :now,"
    " :now)"
)


async def run_via_jetstream(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, tenant_id: uuid.UUID, agent: str, input: dict
) -> uuid.UUID:
    """A producer other than the API: the run's row in the tenant's transaction, then `orch.run.requested` start
    published straight to JetStream (Nats-Msg-Id = the event id)."""
    manifest = BUILTIN_MANIFESTS[agent]
    run_id = uuid.uuid4()
    raw = orjson.dumps(input, option=orjson.OPT_SORT_KEYS)
    flags = {spec["key"]: spec["default"] for spec in ORCHESTRATOR_FLAGS}
    async with tenant_session(sessions, tenant_id) as session:
        await session.execute(
            _INSERT_RUN,
            {
                "id": run_id,
                "tenant_id": tenant_id,
                "key": f"js-{run_id}",
                "agent": agent,
                "version": manifest.version,
                "versions": orjson.dumps(manifest.versions()).decode(),
                "alias": manifest.model_alias,
                "seed": 42,
                "input": raw.decode(),
                "sha": hashlib.sha256(raw).hexdigest(),
                "flags": orjson.dumps(flags).decode(),
                "now": clock.now(),
            },
        )
    data = OrchRunRequested(run_id=run_id, agent=agent, reason="start", sequence=0)
    event = EventEnvelope(
        id=event_id(ORCH_RUN_REQUESTED, str(run_id), "start", "0"),
        type=ORCH_RUN_REQUESTED,
        tenant_id=tenant_id,
        data=data.model_dump(mode="json"),
    )
    await js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.id)})
    return run_id


async def llm_requests(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, run_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The gateway's `requests` rows of the run, as the tenant sees them (RLS)."""
    query = text(
        "select tenant_id, orch_step, tokens_in, tokens_out, cost_usd, status from requests"
        " where orch_run_id = :run order by orch_step"
    )
    async with tenant_session(sessions, tenant_id) as session:
        return [dict(row) for row in (await session.execute(query, {"run": run_id})).mappings().all()]


async def wait_requests(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, run_id: uuid.UUID, count: int, timeout_s: float
) -> list[dict[str, Any]]:
    """The run's `requests` rows once `count` are there (the usage writer lands them asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await llm_requests(sessions, tenant_id, run_id)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.3)


async def effects(http: aiohttp.ClientSession, toolbox_url: str, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    async with http.get(f"{toolbox_url}/control/effects", params={"tenant": str(tenant_id)}) as resp:
        assert resp.status == 200, await resp.text()
        keys: list[dict[str, Any]] = (await resp.json())["keys"]
        return keys


async def read_stream(js: JetStreamContext, subject: str) -> list[EventEnvelope]:
    """Every event on `subject` in ORCH_EVENTS so far (an ephemeral ordered read from the start)."""
    sub = await js.pull_subscribe(
        subject, stream="ORCH_EVENTS", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    events: list[EventEnvelope] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=1)
            except TimeoutError:
                return events
            for msg in msgs:
                events.append(EventEnvelope.from_json(msg.data))
                await msg.ack()
    finally:
        await sub.unsubscribe()
