"""Runs for the worker's tests: an `orch_runs` row written as app_runtime in its tenant's transaction."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from orchestrator.agents.manifest import BUILTIN_MANIFESTS

_INSERT = text(
    "insert into orch_runs (id, tenant_id, idempotency_key, agent, agent_version, versions, model_alias, seed, input,"
    " input_sha256, flags, status, interrupt, interrupt_expires_at, deliveries, created_at, updated_at, finished_at)"
    " values (:id, :tenant_id, :key, :agent, 1, cast(:versions as jsonb), 'gpt-4o-mini', 7, cast(:input as jsonb),"
    " :sha, '{}'::jsonb, :status, cast(:interrupt as jsonb), :expires_at, :deliveries, :now, :now, :finished_at)"
)


async def insert_run(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *,
    agent: str = "order",
    status: str = "queued",
    input: dict[str, Any] | None = None,
    interrupt: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
    finished_at: datetime | None = None,
    deliveries: int = 0,
) -> uuid.UUID:
    run_id = uuid.uuid4()
    raw = orjson.dumps(input or {"order_id": "ORD-1001"})
    async with tenant_session(sessions, tenant_id) as session:
        await session.execute(
            _INSERT,
            {
                "id": run_id,
                "tenant_id": tenant_id,
                "key": f"test-{run_id}",
                "agent": agent,
                "versions": orjson.dumps(BUILTIN_MANIFESTS[agent].versions()).decode(),
                "input": raw.decode(),
                "sha": hashlib.sha256(raw).hexdigest(),
                "status": status,
                "interrupt": orjson.dumps(interrupt).decode() if interrupt is not None else None,
                "expires_at": expires_at,
                "deliveries": deliveries,
                "now": clock.now(),
                "finished_at": finished_at,
            },
        )
    return run_id


async def run_status(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    async with tenant_session(sessions, tenant_id) as session:
        found = await session.execute(text("select status from orch_runs where id = :id"), {"id": run_id})
        return str(found.scalar_one())
