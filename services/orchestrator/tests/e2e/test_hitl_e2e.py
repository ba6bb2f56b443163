"""Acceptance 6 end to end: an order over the tenant's refund threshold waits for a human (`interrupted`, with the
question); resume `true` completes it, `false` ends it (`cancelled`, approval_denied) without an effect, and an
unanswered one expires (its saga runs; nothing was applied before the interrupt, so nothing is left behind).
Nothing before `interrupt()` ran twice.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from .client import Orch, effects, read_stream

pytestmark = pytest.mark.asyncio

OVER_THRESHOLD = {"order_id": "ORD-1003", "notify_email": "lamp@example.com"}  # 125000 > 100000 minor units


async def _stats(http, toolbox: str, tenant_id) -> dict:
    async with http.get(f"{toolbox}/control/stats", params={"tenant": str(tenant_id)}) as resp:
        assert resp.status == 200
        return (await resp.json())["operations"]


async def _interrupted(orch: Orch, js, tenant_id) -> tuple:
    run_id = await orch.create("order", OVER_THRESHOLD)
    run = await orch.settle(run_id)
    assert run["status"] == "interrupted", run
    assert run["interrupt"]["node"] == "approve"
    assert run["interrupt"]["payload"]["amount_minor"] == 125000
    assert run["interrupt"]["payload"]["threshold_minor"] == 100000
    events = [e for e in await read_stream(js, f"orch.run.interrupted.{tenant_id}") if e.data["run_id"] == str(run_id)]
    assert len(events) == 1 and events[0].data["node"] == "approve"
    assert datetime.fromisoformat(events[0].data["expires_at"]) == datetime.fromisoformat(run["interrupt_expires_at"])
    return run_id, run


async def test_resume_true_completes_and_nothing_before_the_interrupt_ran_twice(
    e2e_stack, http, stack_nats, orch_tenant
):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    run_id, _ = await _interrupted(orch, stack_nats.jetstream(), tenant.id)
    assert [k for k in await effects(http, e2e_stack.urls["toolbox"], tenant.id) if k["effects"]] == []

    await orch.resume(run_id, True)
    run = await orch.settle(run_id, until=frozenset({"succeeded", "failed", "compensated"}))
    assert run["status"] == "succeeded", run
    assert [a["tool"] for a in run["output"]["actions"]] == [
        "inventory.reserve",
        "payments.charge",
        "shipments.create",
        "notify.send",
    ]
    ops = await _stats(http, e2e_stack.urls["toolbox"], tenant.id)
    assert ops["orders.get"]["requests"] == 1  # lookup_order, before the interrupt: not run again on resume
    steps = (await orch.history(run_id))["steps"]
    assert [s["kind"] for s in steps if s["node"] == "approve"] == ["interrupt", "resume"]
    completed = await read_stream(stack_nats.jetstream(), f"orch.run.completed.{tenant.id}")
    assert [e.data["status"] for e in completed if e.data["run_id"] == str(run_id)] == ["succeeded"]


async def test_resume_false_ends_without_an_effect(e2e_stack, http, stack_nats, orch_tenant):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    run_id, _ = await _interrupted(orch, stack_nats.jetstream(), tenant.id)

    await orch.resume(run_id, False)
    run = await orch.settle(run_id, until=frozenset({"succeeded", "failed", "compensated", "cancelled"}))
    # The engine ends a declined approval `cancelled` (approval_denied), with the order's answer as its output.
    assert run["status"] == "cancelled", run
    assert run["error"]["code"] == "approval_denied"
    assert run["output"]["reply"]["approved"] is False and run["output"]["actions"] == []
    assert [k for k in await effects(http, e2e_stack.urls["toolbox"], tenant.id) if k["effects"]] == []
    assert (await _stats(http, e2e_stack.urls["toolbox"], tenant.id))["orders.get"]["requests"] == 1


async def test_an_unanswered_interrupt_expires(e2e_stack, http, stack_nats, orch_tenant):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    e2e_stack.kill_worker()
    e2e_stack.start_worker(ORCH_HITL_EXPIRY_S="2")
    try:
        run_id, waiting = await _interrupted(orch, stack_nats.jetstream(), tenant.id)
        expires = datetime.fromisoformat(waiting["interrupt_expires_at"])
        run = await orch.settle(run_id, until=frozenset({"expired", "succeeded", "failed", "compensated"}))
    finally:
        e2e_stack.kill_worker()
        e2e_stack.start_worker()
    assert run["status"] == "expired", run
    assert datetime.fromisoformat(run["finished_at"]) >= expires
    assert [k for k in await effects(http, e2e_stack.urls["toolbox"], tenant.id) if k["effects"]] == []
    completed = await read_stream(stack_nats.jetstream(), f"orch.run.completed.{tenant.id}")
    assert [e.data["status"] for e in completed if e.data["run_id"] == str(run_id)] == ["expired"]
    # An expiry request after the run ended (the sweeper's next round, a late redelivery) changes nothing.
    assert (await orch.get(run_id))["status"] == "expired"
