"""The saga (acceptance 4): a fatal create_shipment refunds then releases, each once; an always-failing compensation
ends in the DLQ with the alert metric; cancel and expire take the same path."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.schemas import EVENT_DATA_MODELS
from aiaas_testing import TenantWithKey
from orchestrator.engine import Engine
from orchestrator.ledger import RunRef
from orchestrator.saga import SAGA_DLQ_SUBJECT

from .factories import Hooks, MakeEngine, Toolbox, new_run

UNDELIVERABLE = {
    "id": "ORD-9000",
    "customer": {"email": "kim@example.com", "name": "Kim"},
    "items": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 2, "unit_amount_minor": 1200}],
    "amount_minor": 2400,
    "currency": "usd",
    "shipping_address": {"line1": "1 Nowhere Road", "city": "Atlantis", "postal_code": "00000", "country": "US"},
}


async def _events(js: JetStreamContext, stream: str, subject: str, tenant: uuid.UUID) -> list[dict[str, Any]]:
    """Every event of `tenant` on `subject` in `stream` (an ephemeral consumer reading from the start)."""
    sub = await js.pull_subscribe(subject, stream=stream)
    found: list[dict[str, Any]] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=1.0)
            except (TimeoutError, NotFoundError):
                break
            for msg in msgs:
                event = orjson.loads(msg.data)
                if event["tenant_id"] == str(tenant):
                    found.append(event)
                await msg.ack()
    finally:
        await sub.unsubscribe()
    return found


async def _comp_calls(sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, run_id: uuid.UUID) -> list:
    async with tenant_session(sessions, tenant.id) as session:
        rows = await session.execute(
            text(
                "select tool, status, idem_key, compensation_of from tool_calls "
                "where run_id = :run and compensation_of is not null order by requested_at"
            ),
            {"run": run_id},
        )
        return list(rows)


async def test_fatal_shipment_refunds_then_releases_once(
    engine: Engine,
    runtime_sessions: async_sessionmaker[AsyncSession],
    tenant: TenantWithKey,
    toolbox: Toolbox,
    js: JetStreamContext,
) -> None:
    await toolbox.seed(orders=[UNDELIVERABLE])
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-9000"})
    hooks = Hooks()

    outcome = await engine.execute(spec, "start", hooks)

    assert outcome.status == "compensated", outcome.error
    assert outcome.error is not None
    assert outcome.error["code"] == "address_undeliverable" and outcome.error["tool"] == "shipments.create"
    assert outcome.error["error_class"] == "fatal" and outcome.error["node"] == "create_shipment"
    assert outcome.error["compensated"] == ["payments.charge", "inventory.reserve"]
    assert "compensating" in hooks.statuses
    comps = await _comp_calls(runtime_sessions, tenant, spec.run_id)
    assert [(c.tool, c.status) for c in comps] == [("payments.refund", "succeeded"), ("inventory.release", "succeeded")]
    assert all(c.idem_key.startswith("comp:") for c in comps)
    assert await toolbox.total("payments.refund") == 1 and await toolbox.total("inventory.release") == 1
    state = await toolbox.state()
    assert [c["refunded"] for c in state["charges"]] == [True]
    assert [r["status"] for r in state["reservations"]] == ["released"]
    assert state["shipments"] == []

    # Executed again (a redelivery): the same outcome, no new effect, nothing undone twice.
    again = await engine.execute(spec, "start", Hooks())
    assert again.status == "compensated" and again.error == outcome.error
    assert await toolbox.total("payments.refund", "executions") == 1
    assert await toolbox.total("inventory.release", "executions") == 1

    succeeded = await _events(js, "ORCH_EVENTS", f"saga.compensation.succeeded.{tenant.id}", tenant.id)
    assert sorted(e["data"]["tool"] for e in succeeded) == ["inventory.release", "payments.refund"]
    failed = await _events(js, "ORCH_EVENTS", f"tool.call.failed.{tenant.id}", tenant.id)
    assert [(e["data"]["tool"], e["data"]["will_compensate"]) for e in failed] == [("shipments.create", True)]
    requested = await _events(js, "ORCH_EVENTS", f"tool.call.requested.{tenant.id}", tenant.id)
    terminal = await _events(js, "ORCH_EVENTS", f"tool.call.succeeded.{tenant.id}", tenant.id)
    assert len(requested) == len(terminal) + len(failed) == 6  # each requested call has one terminal event
    assert {e["data"]["call_id"] for e in requested} == {e["data"]["call_id"] for e in [*terminal, *failed]}
    for event in [*requested, *terminal, *failed, *succeeded]:  # every one valid for its contract
        envelope = EventEnvelope.model_validate(event)
        EVENT_DATA_MODELS[envelope.type].model_validate(envelope.data)
        assert envelope.id == event_id(envelope.type, envelope.data["idem_key"])


async def test_always_failing_compensation_goes_to_the_dlq(
    make_engine: MakeEngine,
    runtime_sessions: async_sessionmaker[AsyncSession],
    tenant: TenantWithKey,
    toolbox: Toolbox,
    js: JetStreamContext,
) -> None:
    engine = await make_engine(comp_max_age_s=1.5)  # its own adapter: its breaker opens for this test alone
    await toolbox.seed(orders=[UNDELIVERABLE])
    await toolbox.fault(operation="payments.refund", status=503)
    labels = {"tool": "payments.refund"}
    before = REGISTRY.get_sample_value("orch_compensation_failures_total", labels) or 0.0
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-9000"})

    outcome = await engine.execute(spec, "start", Hooks())

    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error["code"] == "address_undeliverable"
    assert outcome.error["compensation_failed"][0]["tool"] == "payments.refund"
    assert outcome.error["compensated"] == ["inventory.reserve"]  # the saga went on past the failed refund
    assert REGISTRY.get_sample_value("orch_compensation_failures_total", labels) == before + 1
    assert await toolbox.requests("payments.refund") >= 2  # retried until the max age
    assert await toolbox.total("inventory.release") == 1

    dead = await _events(js, "DLQ", SAGA_DLQ_SUBJECT, tenant.id)
    assert len(dead) == 1
    assert dead[0]["type"] == "saga.compensation.failed" and dead[0]["data"]["tool"] == "payments.refund"
    assert dead[0]["data"]["age_s"] >= 1.4 and dead[0]["data"]["error_class"] in {"retryable", "circuit_open"}
    failed = await _events(js, "ORCH_EVENTS", f"saga.compensation.failed.{tenant.id}", tenant.id)
    assert [e["data"]["run_id"] for e in failed] == [str(spec.run_id)]


async def test_cancel_compensates_recorded_effects(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    """A run cut short after reserving stock (its ledger holds the reservation): cancel releases it."""
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1001"})
    run = RunRef(tenant_id=tenant.id, run_id=spec.run_id, agent="order")
    reserved = await engine.ledger.call(
        run, node="reserve_inventory", seq=0, tool="inventory.reserve", args={"order_id": "ORD-1001"}
    )
    assert reserved.ok
    hooks = Hooks()

    outcome = await engine.execute(spec, "cancel", hooks)

    assert outcome.status == "cancelled"
    assert outcome.error is not None and outcome.error["compensated"] == ["inventory.reserve"]
    assert hooks.statuses == ["compensating"]
    assert await toolbox.total("inventory.release") == 1
    assert (await engine.execute(spec, "cancel", Hooks())).status == "cancelled"
    assert await toolbox.total("inventory.release", "executions") == 1


async def test_expire_of_a_waiting_order_has_nothing_to_undo(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1003"})
    assert (await engine.execute(spec, "start", Hooks())).status == "interrupted"
    hooks = Hooks()
    outcome = await engine.execute(spec, "expire", hooks)
    assert outcome.status == "expired" and outcome.error is not None and outcome.error["code"] == "expired"
    assert hooks.statuses == []
    await asyncio.sleep(0)
    assert sum(t["effects"] for t in (await toolbox.effects())["totals"].values()) == 0
