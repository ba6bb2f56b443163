"""The episode record holds what EXACT replay needs (issue 16 §5): the full model reply and the deployment, the
clock readings nodes make (through the injectable clock, answered from the record when the node runs again), and,
with `record_bodies=False` (the recording-cost benchmark's baseline only), step rows without response bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.checkpoints import CheckpointPool
from aiaas.db import tenant_session
from aiaas.events.publisher import EventPublisher
from aiaas.tools import ToolAdapter
from aiaas_testing import AdminKey, TenantWithKey
from orchestrator.config import OrchestratorSettings
from orchestrator.engine import Engine
from orchestrator.engine.build_info import build_info
from orchestrator.ledger import RunRef, call_fingerprint
from orchestrator.llm import GatewayLLM
from orchestrator.tools_catalog import base_urls

from .factories import Hooks, new_run

FRIDAY = datetime(2026, 12, 11, 16, 45, tzinfo=UTC)
LEAD = {"email": "rec@example.com", "name": "Rec", "message": "A quote please"}


@pytest.fixture
async def clocked_engine(
    runtime_sessions: async_sessionmaker[AsyncSession],
    checkpoints: CheckpointPool,
    js: JetStreamContext,
    engine_key: AdminKey,
    engine_gateway: str,
    engine_toolbox: str,
    engine_ingestion: str,
) -> Any:
    """Factory: an engine on a fixed business clock (FRIDAY), recording bodies or not."""
    closers: list[Any] = []

    def _make(*, record_bodies: bool = True) -> Engine:
        settings = OrchestratorSettings(
            gateway_url=engine_gateway, service_key=engine_key.key, toolbox_url=engine_toolbox,
            ingestion_url=engine_ingestion, tool_deadline_s=10.0, comp_max_age_s=20.0,
        )  # fmt: skip
        tools = ToolAdapter(base_urls(toolbox_url=settings.toolbox_url, ingestion_url=settings.ingestion_url))
        llm = GatewayLLM(settings.gateway_url, settings.service_key)
        closers.extend([tools.aclose, llm.aclose])
        return Engine(
            sessions=runtime_sessions, checkpoints=checkpoints, tools=tools, llm=llm, settings=settings,
            clock=lambda: FRIDAY, publisher=EventPublisher(js), record_bodies=record_bodies,
        )  # fmt: skip

    yield _make
    for close in closers:
        await close()


async def _steps(sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, run_id: object) -> list[Any]:
    async with tenant_session(sessions, tenant.id) as session:
        rows = await session.execute(
            text(
                "select step_key, kind, request, request_sha256, response from orch_steps where run_id = :r order by id"
            ),
            {"r": run_id},
        )
        return list(rows.mappings())


async def test_a_lead_run_records_its_clock_reading_and_the_full_model_reply(
    clocked_engine: Any, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey
) -> None:
    engine = clocked_engine()
    spec = await new_run(runtime_sessions, tenant.id, "lead", LEAD)

    outcome = await engine.execute(spec, "start", Hooks())

    assert outcome.status == "succeeded", outcome.error
    assert outcome.output is not None and outcome.output["reply"]["callback_at"] == "2026-12-14T10:00:00+00:00"
    steps = await _steps(runtime_sessions, tenant, spec.run_id)
    assert [s["step_key"] for s in steps][:2] == ["qualify#0", "qualify:clock#0"]
    clock = steps[1]
    assert clock["kind"] == "clock" and clock["response"] == {"at": FRIDAY.isoformat()}
    llm = steps[0]
    completion = llm["response"]["completion"]
    assert completion["choices"][0]["message"]["content"] == llm["response"]["text"]
    assert completion["usage"]["total_tokens"] > 0 and llm["response"]["deployment"]
    assert call_fingerprint("llm", llm["request"]) != llm["request_sha256"]  # kind-qualified, idem-key free

    # The node running again reads the recorded time, whatever the clock says now.
    later = await engine.ledger.clock_reading(
        RunRef(tenant.id, spec.run_id, "lead"), node="qualify", step_key="qualify:clock#0",
        read=lambda: datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert later == FRIDAY


async def test_record_bodies_off_leaves_response_bodies_out(
    clocked_engine: Any, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey
) -> None:
    engine = clocked_engine(record_bodies=False)
    spec = await new_run(runtime_sessions, tenant.id, "lead", {**LEAD, "email": "nobody@example.com"})

    outcome = await engine.execute(spec, "start", Hooks())

    assert outcome.status == "succeeded", outcome.error
    steps = {s["step_key"]: s for s in await _steps(runtime_sessions, tenant, spec.run_id)}
    assert "completion" not in steps["qualify#0"]["response"] and steps["qualify#0"]["response"]["text"] is not None
    assert steps["dedupe#0"]["response"] is None and steps["create_lead#0"]["response"] is None
    assert steps["qualify:clock#0"]["response"] == {"at": FRIDAY.isoformat()}  # clock readings are never bodies


def test_runs_pin_the_code_that_executes_them() -> None:
    info = build_info()
    assert set(info) == {"code_commit", "langgraph"}
    assert len(info["code_commit"]) == 40 or info["code_commit"] == "unknown"
    assert info["langgraph"].startswith("1.")
