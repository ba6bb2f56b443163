"""The test crash point (acceptance 2 at the engine): a process dies right after the toolbox charged, before the
ledger's outcome and the checkpoint; executing the run again charges nothing twice and re-runs no completed step."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas_testing import AdminKey, InfraUrls, TenantWithKey
from orchestrator.engine import Engine

from .factories import Hooks, Toolbox, new_run

CHILD = Path(__file__).with_name("crash_child.py")


async def test_crash_after_the_charge_then_resume_charges_once(
    engine: Engine,
    runtime_sessions: async_sessionmaker[AsyncSession],
    tenant: TenantWithKey,
    toolbox: Toolbox,
    infra_urls: InfraUrls,
    engine_key: AdminKey,
    engine_gateway: str,
    engine_toolbox: str,
    engine_ingestion: str,
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1001"})
    args = {
        "database_url": infra_urls.database_url,
        "gateway": engine_gateway,
        "toolbox": engine_toolbox,
        "ingestion": engine_ingestion,
        "key": engine_key.key,
        "crash_at": "charge_payment:after_effect",
        "tenant_id": str(spec.tenant_id),
        "run_id": str(spec.run_id),
        "agent": "order",
        "input": spec.input,
        "flags": spec.flags,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), orjson.dumps(args).decode(), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 137, out
    assert await toolbox.total("payments.charge") == 1
    async with tenant_session(runtime_sessions, tenant.id) as session:
        rows = await session.execute(
            text("select tool, status from tool_calls where run_id = :run order by seq, requested_at"),
            {"run": spec.run_id},
        )
        assert sorted(tuple(r) for r in rows) == [
            ("inventory.reserve", "succeeded"),
            ("orders.get", "succeeded"),
            ("payments.charge", "requested"),
        ]

    outcome = await engine.execute(spec, "start", Hooks())

    assert outcome.status == "succeeded", outcome.error
    charges = (await toolbox.effects("payments.charge"))["keys"]
    assert [(k["effects"], k["replays"]) for k in charges] == [(1, 1)]
    assert await toolbox.requests("orders.get") == 1
    assert await toolbox.total("inventory.reserve", "executions") == 1
    assert len((await toolbox.state())["charges"]) == 1
