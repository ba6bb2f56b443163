"""Acceptance 2: the worker SIGKILLed after the toolbox applied a charge (before the ledger and the checkpoint knew),
and in the middle of a model call; restarted, the run completes, each effect happened once per key, and no step
that had completed ran again.

The killed worker acked nothing: JetStream redelivers the run after the consumer's ack_wait (60 s), so each test
takes a little over a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from .client import Orch, effects

pytestmark = pytest.mark.asyncio

REDELIVERY_S = 150  # ack_wait (60 s) + the run itself, with room for a loaded machine


async def test_sigkill_after_the_charge_took_effect(e2e_stack, http, orch_tenant):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    toolbox = e2e_stack.urls["toolbox"]
    e2e_stack.kill_worker()
    e2e_stack.start_worker(ORCH_TEST_HOOKS="1", ORCH_TEST_CRASH_AT="charge_payment:after_effect")
    try:
        run_id = await orch.create("order", {"order_id": "ORD-1002", "notify_email": "b@example.com"})
        code = await asyncio.to_thread(e2e_stack.worker_exit, 60)
        assert code == 137  # the crash point: os._exit(137), as a SIGKILL looks to its parent
        crashed_at = time.time()

        before = await orch.history(run_id)
        charge = [c for c in before["tool_calls"] if c["tool"] == "payments.charge"]
        assert [c["status"] for c in charge] == ["requested"]  # the ledger never heard the answer
        applied = {(k["operation"], k["key"]): k for k in await effects(http, toolbox, tenant.id)}
        assert applied[("payments.charge", charge[0]["idem_key"])]["effects"] == 1  # ... but the charge happened
        done_before = {s["step_key"] for s in before["steps"]}
    finally:
        e2e_stack.start_worker()

    run = await orch.settle(run_id, timeout_s=REDELIVERY_S)
    assert run["status"] == "succeeded", run
    assert run["deliveries"] == 2

    after = await orch.history(run_id)
    keys = await effects(http, toolbox, tenant.id)
    # Effect count per key is 1: the charge too (its retry carried the same Idempotency-Key: a replay).
    assert {(k["operation"], k["effects"]) for k in keys if k["effects"]} == {
        ("inventory.reserve", 1),
        ("payments.charge", 1),
        ("shipments.create", 1),
        ("notify.send", 1),
    }
    by_key = {k["key"]: k for k in keys}
    for call in after["tool_calls"]:
        assert call["status"] == "succeeded", call
        reached = by_key.get(call["idem_key"])
        if call["tool"] == "payments.charge":
            assert (reached["executions"], reached["replays"]) == (1, 1)  # answered from the stored result
        elif reached is not None:
            assert reached["executions"] + reached["replays"] == 1, call  # never called again
    # Steps recorded before the crash are the same rows (append-only, one per step key), none written again.
    assert Counter(s["step_key"] for s in after["steps"]).most_common(1)[0][1] == 1
    old = [s for s in after["steps"] if s["step_key"] in done_before]
    assert len(old) == len(done_before) and all(s["created_at"] < run["finished_at"] for s in old)
    assert time.time() - crashed_at < REDELIVERY_S


async def test_sigkill_in_the_middle_of_a_model_call(e2e_stack, http, orch_tenant):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    sim = e2e_stack.urls["provider-sim"]
    lead = {"email": "grace@example.com", "name": "Grace Hopper", "message": "Call me about compilers."}
    async with http.get(f"{sim}/_sim/stats") as resp:
        calls_before = (await resp.json())["total_requests"]
    async with http.post(f"{sim}/_sim/latency", json={"model": "*", "ttft_ms": 20_000}) as resp:
        assert resp.status == 200, await resp.text()
    try:
        run_id = await orch.create("lead", lead)
        deadline = time.monotonic() + 30
        while True:  # the model call is at the provider, held there
            async with http.get(f"{sim}/_sim/stats") as resp:
                if (await resp.json())["total_requests"] > calls_before:
                    break
            assert time.monotonic() < deadline, "the run's model call never reached the provider"
            await asyncio.sleep(0.1)
        e2e_stack.kill_worker()
        before = await orch.history(run_id)
        assert [s for s in before["steps"] if s["kind"] == "llm"] == []  # the call had no answer yet
    finally:
        async with http.delete(f"{sim}/_sim/latency") as resp:
            assert resp.status == 200
        e2e_stack.start_worker()

    run = await orch.settle(run_id, timeout_s=REDELIVERY_S)
    assert run["status"] == "succeeded", run
    after = await orch.history(run_id)
    llm = [s for s in after["steps"] if s["kind"] == "llm"]
    assert [(s["node"], s["status"]) for s in llm] == [("qualify", "ok")]
    created = [
        k for k in await effects(http, e2e_stack.urls["toolbox"], tenant.id) if k["operation"] == "crm.create_lead"
    ]
    assert [k["effects"] for k in created] == [1]
    assert [a["tool"] for a in run["output"]["actions"]][:1] == ["crm.create_lead"]
