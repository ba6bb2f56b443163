"""Acceptance 1: each graph end to end, started over HTTP and by a message published straight to JetStream.

FAQ cites the shipped help-centre documents (uploaded first), Order charges and ships, Lead is created once; the
gateway's `requests` rows of a run are its model steps in `orch_steps`, in the tenant's rows, priced.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from .client import Orch, effects, llm_requests, run_via_jetstream, upload_help_centre, wait_requests

pytestmark = pytest.mark.asyncio

FAQ = {"question": "How long do refunds take after I return an order?"}
ORDER = {"order_id": "ORD-1001", "notify_email": "buyer@example.com"}
LEAD = {"email": "ada@example.com", "name": "Ada Lovelace", "company": "Engines Ltd", "message": "We want a demo."}


async def _start(how, orch, sessions, js, tenant, agent, input):
    if how == "http":
        return await orch.create(agent, input)
    return await run_via_jetstream(sessions, js, tenant.id, agent, input)


async def _llm_steps_are_billed_requests(orch, e2e_sessions, tenant, run_id) -> int:
    history = await orch.history(run_id)
    llm_steps = [s for s in history["steps"] if s["kind"] == "llm" and s["status"] == "ok"]
    rows = await wait_requests(e2e_sessions, tenant.id, run_id, len(llm_steps), timeout_s=30)
    assert sorted(r["orch_step"] for r in rows) == sorted(s["step_key"] for s in llm_steps)
    assert all(r["tenant_id"] == tenant.id and r["status"] == "success" for r in rows)
    assert all(Decimal(str(r["cost_usd"])) > 0 for r in rows)
    # Each step's cost is its billed request's (the gateway's x-aiaas-cost-usd header), to the digit.
    billed = {r["orch_step"]: Decimal(str(r["cost_usd"])) for r in rows}
    assert {s["step_key"]: Decimal(str(s["cost_usd"])) for s in llm_steps} == billed
    assert sum(r["tokens_in"] + r["tokens_out"] for r in rows) == sum(
        s["tokens_in"] + s["tokens_out"] for s in llm_steps
    )
    return len(rows)


@pytest.mark.parametrize("how", ["http", "jetstream"])
async def test_faq_cites_the_shipped_documents(e2e_stack, http, stack_nats, orch_tenant, e2e_sessions, how):
    tenant = await orch_tenant()
    uploaded = await upload_help_centre(http, e2e_stack.urls["ingestion"], tenant)
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    run_id = await _start(how, orch, e2e_sessions, stack_nats.jetstream(), tenant, "faq", FAQ)

    run = await orch.settle(run_id)
    assert run["status"] == "succeeded", run
    reply = run["output"]["reply"]
    cited = {c["filename"] for c in reply["citations"]}
    assert reply["citations"] and cited <= set(uploaded)
    assert "returns-policy.pdf" in cited  # the refund timing lives in the returns policy
    assert "[1]" in run["output"]["text"]
    assert await _llm_steps_are_billed_requests(orch, e2e_sessions, tenant, run_id) == 2  # classify, answer


@pytest.mark.parametrize("how", ["http", "jetstream"])
async def test_order_charges_and_ships(e2e_stack, http, stack_nats, orch_tenant, e2e_sessions, how):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    run_id = await _start(how, orch, e2e_sessions, stack_nats.jetstream(), tenant, "order", ORDER)

    run = await orch.settle(run_id)
    assert run["status"] == "succeeded", run
    actions = run["output"]["actions"]
    assert [(a["tool"], a["status"]) for a in actions] == [
        ("inventory.reserve", "succeeded"),
        ("payments.charge", "succeeded"),
        ("shipments.create", "succeeded"),
        ("notify.send", "succeeded"),
    ]
    by_op = {(k["operation"], k["effects"]) for k in await effects(http, e2e_stack.urls["toolbox"], tenant.id)}
    assert {("inventory.reserve", 1), ("payments.charge", 1), ("shipments.create", 1), ("notify.send", 1)} <= by_op
    assert await llm_requests(e2e_sessions, tenant.id, run_id) == []  # Order calls no model


@pytest.mark.parametrize("how", ["http", "jetstream"])
async def test_lead_is_created_once(e2e_stack, http, stack_nats, orch_tenant, e2e_sessions, how):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    run_id = await _start(how, orch, e2e_sessions, stack_nats.jetstream(), tenant, "lead", LEAD)
    run = await orch.settle(run_id)
    assert run["status"] == "succeeded", run
    # The same lead again, in a second run: dedupe finds it, nothing is created twice.
    again = await orch.settle(await _start(how, orch, e2e_sessions, stack_nats.jetstream(), tenant, "lead", LEAD))
    assert again["status"] == "succeeded", again
    assert ("crm.create_lead", "skipped") in {(a["tool"], a["status"]) for a in again["output"]["actions"]}

    created = [
        k for k in await effects(http, e2e_stack.urls["toolbox"], tenant.id) if k["operation"] == "crm.create_lead"
    ]
    assert sum(k["effects"] for k in created) == 1
    assert await _llm_steps_are_billed_requests(orch, e2e_sessions, tenant, run_id) == 1  # qualify
