"""Helpers of the engine tests: a run row to execute, recording hooks, the toolbox's control API for one tenant."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from orchestrator.agents.manifest import BUILTIN_MANIFESTS
from orchestrator.engine import Engine, RunSpec

__all__ = ["Hooks", "MakeEngine", "Toolbox", "new_run"]

# The `make_engine` fixture: `await make_engine(comp_max_age_s=1.5)` (OrchestratorSettings overrides).
MakeEngine = Callable[..., Awaitable[Engine]]

_INSERT_RUN = text(
    """
    insert into orch_runs (id, tenant_id, idempotency_key, agent, agent_version, versions, model_alias, seed, input,
                           input_sha256, flags, status, created_at, updated_at)
    values (:id, :tenant_id, :key, :agent, :version, cast(:versions as jsonb), :alias, :seed, cast(:input as jsonb),
            :sha, cast(:flags as jsonb), 'running', :now, :now)
    """
)


async def new_run(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    agent: str,
    run_input: dict[str, Any],
    *,
    flags: dict[str, Any] | None = None,
    seed: int = 7,
) -> RunSpec:
    """An `orch_runs` row (status running, as the worker leaves it before executing) and the spec built from it."""
    manifest = BUILTIN_MANIFESTS[agent]
    run_id = uuid.uuid4()
    raw = orjson.dumps(run_input, option=orjson.OPT_SORT_KEYS)
    async with tenant_session(sessions, tenant_id) as session:
        await session.execute(
            _INSERT_RUN,
            {
                "id": run_id,
                "tenant_id": tenant_id,
                "key": f"test-{run_id}",
                "agent": agent,
                "version": manifest.version,
                "versions": orjson.dumps(manifest.versions()).decode(),
                "alias": manifest.model_alias,
                "seed": seed,
                "input": raw.decode(),
                "sha": hashlib.sha256(raw).hexdigest(),
                "flags": orjson.dumps(flags or {}).decode(),
                "now": clock.now(),
            },
        )
    return RunSpec(
        tenant_id=tenant_id,
        run_id=run_id,
        manifest=manifest,
        model_alias=manifest.model_alias,
        seed=seed,
        input=run_input,
        flags=flags or {},
    )


@dataclass
class Hooks:
    """Records what the engine tells the worker."""

    heartbeats: int = 0
    statuses: list[str] = field(default_factory=list)

    async def heartbeat(self) -> None:
        self.heartbeats += 1

    async def status(self, status: str) -> None:
        self.statuses.append(status)


@dataclass
class Toolbox:
    """The toolbox's control API for one tenant (the tenant id string is the toolbox tenant)."""

    http: aiohttp.ClientSession
    url: str
    tenant: str

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, f"{self.url}{path}", **kwargs) as response:
            assert response.status < 300, f"{method} {path}: {response.status} {await response.text()}"
            return await response.json()

    async def seed(self, **data: Any) -> None:
        await self._json("POST", "/control/seed", json={"tenant": self.tenant, **data})

    async def fault(self, **rule: Any) -> None:
        await self._json("POST", "/control/faults", json={"tenant": self.tenant, **rule})

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", "/control/state", params={"tenant": self.tenant})
        return result

    async def effects(self, operation: str | None = None) -> dict[str, Any]:
        params = {"tenant": self.tenant}
        if operation is not None:
            params["operation"] = operation
        result: dict[str, Any] = await self._json("GET", "/control/effects", params=params)
        return result

    async def total(self, operation: str, what: str = "effects") -> int:
        """`effects`, `executions` or `replays` of `operation` for this tenant."""
        totals = (await self.effects())["totals"].get(operation, {})
        return int(totals.get(what, 0))

    async def requests(self, operation: str) -> int:
        stats = await self._json("GET", "/control/stats", params={"tenant": self.tenant})
        return int(stats["operations"].get(operation, {}).get("requests", 0))
