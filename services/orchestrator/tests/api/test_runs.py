"""`POST/GET /v1/orchestrator/runs` through the real API process: a run is created queued with what it pins and
its start request (outbox and NATS, one id); the idempotency key returns the same run, or 409 for another body;
unknown agent 404, input failing the agent's schema 422 naming where; a second unfinished run on one order 409;
reads: one run, keyset pages, history in order. No worker runs here: runs stay queued unless a test moves them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx2
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import event_id
from aiaas.flags.seed import ORCHESTRATOR_FLAGS
from aiaas_testing import TenantWithKey
from orchestrator.agents.manifest import BUILTIN_MANIFESTS
from orchestrator.engine.build_info import build_info

from .factories import (
    RUNS,
    create,
    error,
    faq_body,
    insert_step,
    insert_tool_call,
    last_request,
    order_body,
    outbox_events,
    set_run,
)

MakeOrchTenant = Callable[[], Awaitable[TenantWithKey]]


@pytest.fixture
async def client(orch_api: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=orch_api.url, timeout=30) as http:
        yield http


async def test_create_pins_the_manifest_and_requests_the_start(
    client: httpx2.AsyncClient,
    make_orch_tenant: MakeOrchTenant,
    admin_sessions: async_sessionmaker[AsyncSession],
    orch_api: Any,
) -> None:
    tenant = await make_orch_tenant()
    body = order_body()
    created = await create(client, tenant.auth, body)
    assert (created["status"], created["agent"], created["created"]) == ("queued", "order", True)
    run_id = created["run_id"]

    run = (await client.get(f"{RUNS}/{run_id}", headers=tenant.auth)).json()
    manifest = BUILTIN_MANIFESTS["order"]
    assert run["run_id"] == run_id and run["status"] == "queued"
    assert (run["agent"], run["agent_version"], run["model_alias"]) == ("order", 1, manifest.model_alias)
    # The manifest's versions, and the code that will run it (episode record: commit, langgraph). The commit is
    # the API process's HEAD when it started (the checkout may have moved since).
    pinned = dict(run["versions"])
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", pinned.pop("code_commit"))
    assert pinned == {**manifest.versions(), "langgraph": build_info()["langgraph"]}
    assert run["input"] == body["input"] and run["idempotency_key"] == body["idempotency_key"]
    assert run["input_sha256"] == hashlib.sha256(orjson.dumps(body["input"], option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert 0 <= run["seed"] < 2**63
    assert run["flags"] == {flag["key"]: flag["default"] for flag in ORCHESTRATOR_FLAGS}
    assert run["flags"]["hitl.order.refund_threshold"] == 100_000
    assert (run["output"], run["error"], run["interrupt"], run["deliveries"]) == (None, None, None, 0)
    assert run["cancel_requested"] is False and run["created_at"] == run["updated_at"]

    expected_id = str(event_id("orch.run.requested", run_id, "start", "0"))
    [event] = await outbox_events(admin_sessions, run_id)
    assert event["id"] == expected_id and event["tenant_id"] == str(tenant.id)
    assert event["data"] == {"run_id": run_id, "agent": "order", "reason": "start", "sequence": 0}
    published, msg_id = await last_request(orch_api.nats_url, tenant.id)
    assert msg_id == expected_id and published == event


async def test_the_same_idempotency_key_returns_the_same_run(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant, other = await make_orch_tenant(), await make_orch_tenant()
    body = faq_body()
    first = await create(client, tenant.auth, body)
    again = await create(client, tenant.auth, {**body, "input": dict(reversed(list(body["input"].items())))})
    assert again == {**first, "created": False}
    # Concurrent repeats: one run, one start request.
    concurrent = faq_body()
    answers = await asyncio.gather(*(client.post(RUNS, json=concurrent, headers=tenant.auth) for _ in range(8)))
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["run_id"] for r in answers}) == 1
    assert sum(r.json()["created"] for r in answers) == 1
    assert len(await outbox_events(admin_sessions, answers[0].json()["run_id"])) == 1
    # Keys belong to a tenant: another tenant's same key is its own run.
    theirs = await create(client, other.auth, body)
    assert theirs["run_id"] != first["run_id"] and theirs["created"] is True

    other_input = await client.post(RUNS, json={**body, "input": {"question": "Something else?"}}, headers=tenant.auth)
    error(other_input, 409, "idempotency_key_reused")
    other_agent = await client.post(
        RUNS,
        json={**body, "agent": "lead", "input": {"email": "a@b.c", "name": "A", "message": "hi"}},
        headers=tenant.auth,
    )
    assert error(other_agent, 409, "idempotency_key_reused")["param"] == "idempotency_key"


async def test_unknown_agent_is_404_and_bad_input_422_naming_where(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant
) -> None:
    tenant = await make_orch_tenant()
    unknown = await client.post(RUNS, json={**faq_body(), "agent": "no-such-agent"}, headers=tenant.auth)
    assert error(unknown, 404, "agent_not_found")["param"] == "agent"

    cases = [
        ({"agent": "order", "input": {}}, "input.order_id"),
        ({"agent": "order", "input": {"order_id": "bad id!"}}, "input.order_id"),
        ({"agent": "order", "input": {"order_id": "ORD-1", "carrier": "pigeon"}}, "input.carrier"),
        ({"agent": "faq", "input": {"question": "q", "extra": 1}}, "input"),
        ({"agent": "faq", "input": {"question": 42}}, "input.question"),
        ({"agent": "lead", "input": {"email": "x", "name": "n", "message": "m"}}, "input.email"),
    ]
    for body, param in cases:
        response = await client.post(RUNS, json={**body, "idempotency_key": uuid.uuid4().hex}, headers=tenant.auth)
        found = error(response, 422, "invalid_input")
        assert found["param"] == param, (body, found)
        assert "bad id!" not in found["message"] and "pigeon" not in found["message"]
    # Text Postgres cannot store, and integers beyond 64 bits (sent as JSON escapes and digits).
    for bad in ({"question": "nul\x00"}, {"question": "\ud800"}, {"question": "q", "n": 2**70}):
        raw = json.dumps({"agent": "faq", "input": bad, "idempotency_key": uuid.uuid4().hex}).encode()
        response = await client.post(RUNS, content=raw, headers={**tenant.auth, "content-type": "application/json"})
        assert response.status_code == 422, (bad, response.text)
    surrogate_key = json.dumps({**faq_body(), "idempotency_key": "\ud800"}).encode()
    response = await client.post(
        RUNS, content=surrogate_key, headers={**tenant.auth, "content-type": "application/json"}
    )
    error(response, 422)
    missing = await client.post(RUNS, json={"agent": "faq", "input": {"question": "q"}}, headers=tenant.auth)
    error(missing, 422)
    too_long = await client.post(RUNS, json={**faq_body(), "idempotency_key": "k" * 256}, headers=tenant.auth)
    error(too_long, 422)
    broken = await client.post(RUNS, content=b"{not json", headers={**tenant.auth, "content-type": "application/json"})
    error(broken, 400, "invalid_json")
    # Nothing was created by any of it.
    listing = (await client.get(RUNS, headers=tenant.auth)).json()
    assert listing["data"] == []


async def test_a_second_unfinished_run_on_one_order_is_409(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant, other = await make_orch_tenant(), await make_orch_tenant()
    order_id = f"ORD-{uuid.uuid4().hex[:8]}"
    first = await create(client, tenant.auth, order_body(order_id))
    second = await client.post(RUNS, json=order_body(order_id), headers=tenant.auth)
    found = error(second, 409, "run_in_progress")
    assert first["run_id"] in found["message"] and f"order:{order_id}" in found["message"]
    # The lock is per tenant, and only while the holder is unfinished.
    await create(client, other.auth, order_body(order_id))
    for status in ("interrupted", "compensating"):
        await set_run(admin_sessions, first["run_id"], status=status)
        error(await client.post(RUNS, json=order_body(order_id), headers=tenant.auth), 409, "run_in_progress")
    await set_run(admin_sessions, first["run_id"], status="succeeded")
    third = await create(client, tenant.auth, order_body(order_id))
    assert third["run_id"] != first["run_id"]


async def test_get_list_and_history(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_orch_tenant()
    ids = [(await create(client, tenant.auth, faq_body(f"question {i}")))["run_id"] for i in range(3)]
    order = await create(client, tenant.auth, order_body())
    ids.append(order["run_id"])

    page = (await client.get(RUNS, params={"limit": 3}, headers=tenant.auth)).json()
    assert [run["run_id"] for run in page["data"]] == ids[::-1][:3] and page["has_more"] is True
    rest = (
        await client.get(RUNS, params={"limit": 3, "after": page["data"][-1]["run_id"]}, headers=tenant.auth)
    ).json()
    assert [run["run_id"] for run in rest["data"]] == [ids[0]] and rest["has_more"] is False
    orders = (await client.get(RUNS, params={"agent": "order"}, headers=tenant.auth)).json()
    assert [run["run_id"] for run in orders["data"]] == [order["run_id"]]
    await set_run(admin_sessions, ids[1], status="failed", error={"code": "boom", "message": "m"})
    failed = (await client.get(RUNS, params={"status": "failed"}, headers=tenant.auth)).json()
    assert [(run["run_id"], run["error"]["code"]) for run in failed["data"]] == [(ids[1], "boom")]
    error(await client.get(RUNS, params={"status": "nonsense"}, headers=tenant.auth), 422)
    error(await client.get(RUNS, params={"limit": 0}, headers=tenant.auth), 422)

    run_id = order["run_id"]
    empty = (await client.get(f"{RUNS}/{run_id}/history", headers=tenant.auth)).json()
    assert empty == {"run_id": run_id, "status": "queued", "steps": [], "tool_calls": []}
    async with admin_session(admin_sessions) as session:
        for key in ("lookup_order#0", "approve#1", "reserve#2"):
            await insert_step(session, tenant.id, run_id, key, kind="tool")
        later = await insert_tool_call(session, tenant.id, run_id, seq=2, tool="inventory.reserve")
        earlier = await insert_tool_call(
            session, tenant.id, run_id, seq=0, tool="orders.get", at=clock.now() - timedelta(seconds=5)
        )
    history = (await client.get(f"{RUNS}/{run_id}/history", headers=tenant.auth)).json()
    assert [step["step_key"] for step in history["steps"]] == ["lookup_order#0", "approve#1", "reserve#2"]
    step = history["steps"][0]
    assert (step["kind"], step["tokens_in"], step["tokens_out"], step["latency_ms"]) == ("tool", 10, 5, 12.5)
    assert float(step["cost_usd"]) == pytest.approx(0.0001)
    assert [call["id"] for call in history["tool_calls"]] == [str(earlier), str(later)]
    assert history["tool_calls"][1]["result"] == {"ref": "ref-2"}

    missing = uuid.uuid4()
    for path in (f"{RUNS}/{missing}", f"{RUNS}/{missing}/history", f"{RUNS}/{missing}/events"):
        error(await client.get(path, headers=tenant.auth), 404, "run_not_found")
    error(await client.get(f"{RUNS}/not-a-uuid", headers=tenant.auth), 422)


async def test_the_key_needs_the_orchestrator_scope(client: httpx2.AsyncClient, make_tenant: Any) -> None:
    chat_only = await make_tenant(scopes=["chat"])
    error(await client.post(RUNS, json=faq_body(), headers=chat_only.auth), 403, "insufficient_scope")
    error(await client.get(RUNS, headers=chat_only.auth), 403, "insufficient_scope")
    error(await client.get(RUNS), 401)
    error(await client.get(RUNS, headers={"Authorization": "Bearer sk-nope"}), 401)


async def test_wait_answers_with_the_run_once_it_settles(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_orch_tenant()
    # Nobody runs it: the wait ends at its limit and the answer is 202 queued.
    started = asyncio.get_running_loop().time()
    slow = await client.post(RUNS, json=faq_body(wait=0.5), headers=tenant.auth)
    assert slow.status_code == 202 and slow.json()["status"] == "queued"
    assert asyncio.get_running_loop().time() - started >= 0.5
    # A worker (here: the test) finishes it meanwhile: 200 with the run.
    body = faq_body(wait=True)
    waiting = asyncio.create_task(client.post(RUNS, json=body, headers=tenant.auth))
    run_id = None
    for _ in range(100):
        runs = (await client.get(RUNS, headers=tenant.auth)).json()["data"]
        run_id = next((r["run_id"] for r in runs if r["idempotency_key"] == body["idempotency_key"]), None)
        if run_id:
            break
        await asyncio.sleep(0.02)
    assert run_id is not None
    output = {"reply": {}, "text": "Five business days.", "actions": []}
    await set_run(admin_sessions, run_id, status="succeeded", output=output)
    done = await waiting
    assert done.status_code == 200, done.text
    assert (done.json()["run_id"], done.json()["status"], done.json()["output"]) == (run_id, "succeeded", output)
    # The same key with wait again: already settled, answered at once.
    again = await client.post(RUNS, json=body, headers=tenant.auth)
    assert again.status_code == 200 and again.json()["run_id"] == run_id
    error(await client.post(RUNS, json=faq_body(wait=-1), headers=tenant.auth), 422)
