"""Order runs executed by the engine directly: charge, ship, notify; approval over the threshold (acceptance 6)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas_testing import TenantWithKey
from orchestrator.engine import Engine

from .factories import Hooks, Toolbox, new_run

THRESHOLD = {"hitl.order.refund_threshold": 100_000}


async def _steps(sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, run_id: object) -> list[tuple]:
    async with tenant_session(sessions, tenant.id) as session:
        rows = await session.execute(
            text("select step_key, kind, status from orch_steps where run_id = :run order by id"), {"run": run_id}
        )
        return [tuple(row) for row in rows]


async def test_order_charges_ships_and_notifies(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1001"}, flags=THRESHOLD)
    hooks = Hooks()

    outcome = await engine.execute(spec, "start", hooks)

    assert outcome.status == "succeeded", outcome.error
    assert outcome.output is not None
    reply = outcome.output["reply"]
    assert reply["order_id"] == "ORD-1001" and reply["amount_minor"] == 5198 and reply["approved"] is True
    assert [a["tool"] for a in outcome.output["actions"]] == [
        "inventory.reserve",
        "payments.charge",
        "shipments.create",
        "notify.send",
    ]
    assert all(a["status"] == "succeeded" for a in outcome.output["actions"])
    assert reply["tracking_number"] in outcome.output["text"]
    assert (outcome.llm_calls, outcome.tool_calls, outcome.tokens) == (0, 5, 0)
    assert hooks.heartbeats >= 5 and "compensating" not in hooks.statuses
    state = await toolbox.state()
    assert [c["amount_minor"] for c in state["charges"]] == [5198]
    assert [s["id"] for s in state["shipments"]] == [reply["shipment_id"]]
    assert len(state["messages"]) == 1 and state["messages"][0]["to"] == "ada@example.com"
    for op in ("inventory.reserve", "payments.charge", "shipments.create", "notify.send"):
        assert await toolbox.total(op) == 1, op
    steps = await _steps(runtime_sessions, tenant, spec.run_id)
    assert [s[0] for s in steps] == [
        "lookup_order#0",
        "reserve_inventory#0",
        "charge_payment#0",
        "create_shipment#0",
        "notify#0",
    ]
    assert {s[1] for s in steps} == {"tool"} and {s[2] for s in steps} == {"ok"}


async def test_order_over_threshold_waits_then_resume_true_completes(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1003"}, flags=THRESHOLD)

    waiting = await engine.execute(spec, "start", Hooks())
    assert waiting.status == "interrupted"
    assert waiting.interrupt is not None and waiting.interrupt["node"] == "approve"
    assert waiting.interrupt["payload"]["amount_minor"] == 125_000
    assert waiting.interrupt["payload"]["threshold_minor"] == 100_000
    # A redelivered start re-reports the interrupt and calls nothing.
    again = await engine.execute(spec, "start", Hooks())
    assert again.status == "interrupted" and again.interrupt == waiting.interrupt
    assert await toolbox.requests("orders.get") == 1
    assert await toolbox.total("payments.charge", "executions") == 0

    done = await engine.execute(spec, "resume", Hooks(), resume_value=True)

    assert done.status == "succeeded", done.error
    assert done.output is not None and done.output["reply"]["amount_minor"] == 125_000
    # Nothing before interrupt() ran twice: the order was looked up once in all.
    assert await toolbox.requests("orders.get") == 1
    assert await toolbox.total("payments.charge") == 1
    kinds = [(s[0], s[1]) for s in await _steps(runtime_sessions, tenant, spec.run_id)]
    assert ("approve:interrupt", "interrupt") in kinds and ("approve:resume", "resume") in kinds


async def test_order_resume_false_ends_without_effect(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1003"}, flags=THRESHOLD)
    assert (await engine.execute(spec, "start", Hooks())).status == "interrupted"

    denied = await engine.execute(spec, "resume", Hooks(), resume_value=False)

    assert denied.status == "cancelled"
    assert denied.error is not None and denied.error["code"] == "approval_denied"
    assert denied.output is not None and denied.output["actions"] == []
    effects = await toolbox.effects()
    assert sum(t["effects"] for t in effects["totals"].values()) == 0
    assert await toolbox.requests("orders.get") == 1
    # Executing it again answers the same, still without effect.
    assert (await engine.execute(spec, "resume", Hooks(), resume_value=False)).status == "cancelled"
    assert sum(t["effects"] for t in (await toolbox.effects())["totals"].values()) == 0


async def test_threshold_comes_from_the_run_flags(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    """A tenant whose threshold is above the order's amount is not asked."""
    flags = {"hitl.order.refund_threshold": 200_000}
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1003"}, flags=flags)
    outcome = await engine.execute(spec, "start", Hooks())
    assert outcome.status == "succeeded", outcome.error
    assert await toolbox.total("payments.charge") == 1
