"""Resume and cancel through the real API (409 unless the run's state allows them; each request written to the
outbox and published with its deterministic id), and the SSE stream of a run's status, which ends at a terminal
status. The worker is not part of this suite: the tests move runs' states as it would (platform_admin)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx2
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.events import event_id
from aiaas_testing import TenantWithKey

from .factories import RUNS, create, error, faq_body, last_request, order_body, outbox_events, set_run

MakeOrchTenant = Callable[[], Awaitable[TenantWithKey]]
APPROVAL = {"node": "approve", "payload": {"order_id": "ORD-1", "amount_minor": 250_000, "currency": "usd"}}


@pytest.fixture
async def client(orch_api: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=orch_api.url, timeout=30) as http:
        yield http


async def _interrupted_order(
    client: httpx2.AsyncClient, tenant: TenantWithKey, admin_sessions: async_sessionmaker[AsyncSession]
) -> str:
    run_id: str = (await create(client, tenant.auth, order_body()))["run_id"]
    expires = clock.now() + timedelta(hours=1)
    await set_run(
        admin_sessions, run_id, status="interrupted", interrupt=APPROVAL, interrupt_expires_at=expires, deliveries=1
    )
    return run_id


async def test_resume_answers_an_interrupted_run_once(
    client: httpx2.AsyncClient,
    make_orch_tenant: MakeOrchTenant,
    admin_sessions: async_sessionmaker[AsyncSession],
    orch_api: Any,
) -> None:
    tenant = await make_orch_tenant()
    queued = (await create(client, tenant.auth, faq_body()))["run_id"]
    error(
        await client.post(f"{RUNS}/{queued}/resume", json={"value": True}, headers=tenant.auth),
        409,
        "run_not_interrupted",
    )
    error(
        await client.post(f"{RUNS}/{uuid.uuid4()}/resume", json={"value": True}, headers=tenant.auth),
        404,
        "run_not_found",
    )

    run_id = await _interrupted_order(client, tenant, admin_sessions)
    before = (await client.get(f"{RUNS}/{run_id}", headers=tenant.auth)).json()
    assert (before["status"], before["interrupt"]) == ("interrupted", APPROVAL)
    error(await client.post(f"{RUNS}/{run_id}/resume", json={}, headers=tenant.auth), 422)
    error(
        await client.post(f"{RUNS}/{run_id}/resume", json={"value": "nul\x00"}, headers=tenant.auth),
        422,
        "invalid_value",
    )

    answer = {"approved": True, "by": "agent-7"}
    resumed = await client.post(f"{RUNS}/{run_id}/resume", json={"value": answer}, headers=tenant.auth)
    assert resumed.status_code == 202, resumed.text
    assert resumed.json() == {"run_id": run_id, "status": "queued", "agent": "order"}
    run = (await client.get(f"{RUNS}/{run_id}", headers=tenant.auth)).json()
    assert (run["status"], run["resume_value"], run["interrupt"], run["interrupt_expires_at"]) == (
        "queued",
        answer,
        None,
        None,
    )
    expected = {"run_id": run_id, "agent": "order", "reason": "resume", "sequence": 1}
    events = await outbox_events(admin_sessions, run_id)
    assert [event["data"] for event in events] == [{**expected, "reason": "start", "sequence": 0}, expected]
    assert events[1]["id"] == str(event_id("orch.run.requested", run_id, "resume", "1"))
    published, msg_id = await last_request(orch_api.nats_url, tenant.id)
    assert (published, msg_id) == (events[1], events[1]["id"])
    # Answered: a second resume finds nothing to resume.
    error(
        await client.post(f"{RUNS}/{run_id}/resume", json={"value": False}, headers=tenant.auth),
        409,
        "run_not_interrupted",
    )
    # A JSON null is a value too (stored as JSON null, not as "no value").
    await set_run(admin_sessions, run_id, status="interrupted", interrupt=APPROVAL, deliveries=2)
    nulled = await client.post(f"{RUNS}/{run_id}/resume", json={"value": None}, headers=tenant.auth)
    assert nulled.status_code == 202
    events = await outbox_events(admin_sessions, run_id)
    assert events[-1]["data"]["sequence"] == 2 and len(events) == 3


async def test_cancel_by_state(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_orch_tenant()
    reasons: dict[str, list[tuple[str, int]]] = {}
    for status in ("queued", "running", "compensating", "interrupted"):
        run_id = (await create(client, tenant.auth, order_body()))["run_id"]
        if status != "queued":
            await set_run(admin_sessions, run_id, status=status, deliveries=1)
        cancelled = await client.post(f"{RUNS}/{run_id}/cancel", headers=tenant.auth)
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json()["status"] == status
        run = (await client.get(f"{RUNS}/{run_id}", headers=tenant.auth)).json()
        assert run["cancel_requested"] is True and run["status"] == status
        events = await outbox_events(admin_sessions, run_id)
        reasons[status] = [(e["data"]["reason"], e["data"]["sequence"]) for e in events]
    # A queued or interrupted run is sent a cancel request; a running one sees the flag between its steps.
    assert reasons == {
        "queued": [("start", 0), ("cancel", 0)],
        "running": [("start", 0)],
        "compensating": [("start", 0)],
        "interrupted": [("start", 0), ("cancel", 1)],
    }
    for status in ("succeeded", "failed", "compensated", "cancelled", "expired"):
        run_id = (await create(client, tenant.auth, faq_body()))["run_id"]
        await set_run(admin_sessions, run_id, status=status)
        error(await client.post(f"{RUNS}/{run_id}/cancel", headers=tenant.auth), 409, "run_finished")
        error(await client.post(f"{RUNS}/{run_id}/resume", json={"value": 1}, headers=tenant.auth), 409)
    error(await client.post(f"{RUNS}/{uuid.uuid4()}/cancel", headers=tenant.auth), 404, "run_not_found")


async def _read_events(response: httpx2.Response, into: list[tuple[str, Any]]) -> None:
    """Collect ("status", data) and ("heartbeat", None) items until the stream ends."""
    event_type, data = "", b""
    async for line in response.aiter_lines():
        if line.startswith(":"):
            into.append(("heartbeat", None))
        elif line.startswith("event: "):
            event_type = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :].encode()
        elif line == "" and event_type:
            into.append((event_type, orjson.loads(data)))
            event_type, data = "", b""


async def _until(items: list[tuple[str, Any]], predicate: Callable[[list[tuple[str, Any]]], bool]) -> None:
    for _ in range(200):
        if predicate(items):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(items)


async def test_events_stream_status_changes_until_terminal(
    client: httpx2.AsyncClient, make_orch_tenant: MakeOrchTenant, admin_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_orch_tenant()
    run_id = (await create(client, tenant.auth, order_body()))["run_id"]
    items: list[tuple[str, Any]] = []

    def statuses() -> list[str]:
        return [data["status"] for kind, data in items if kind == "status"]

    async with client.stream("GET", f"{RUNS}/{run_id}/events", headers=tenant.auth) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(_read_events(response, items))
        await _until(items, lambda _: statuses() == ["queued"])
        await _until(items, lambda got: ("heartbeat", None) in got)  # nothing changed: comments keep it open
        await set_run(admin_sessions, run_id, status="running", deliveries=1)
        await _until(items, lambda _: statuses() == ["queued", "running"])
        await set_run(admin_sessions, run_id, status="interrupted", interrupt=APPROVAL)
        await _until(items, lambda _: statuses()[-1] == "interrupted")
        await set_run(admin_sessions, run_id, status="running", interrupt=None)
        output = {"reply": {"refunded": True}, "text": "Refunded.", "actions": []}
        await asyncio.sleep(0.3)
        await set_run(admin_sessions, run_id, status="succeeded", output=output)
        await asyncio.wait_for(reader, 10)  # the stream ends by itself after the terminal status
    events = [data for kind, data in items if kind == "status"]
    assert statuses()[:3] == ["queued", "running", "interrupted"] and statuses()[-1] == "succeeded"
    assert events[2]["interrupt"] == APPROVAL and events[-1]["output"] == output
    assert all(event["run_id"] == run_id for event in events)

    # A finished run's stream is its one terminal event.
    done: list[tuple[str, Any]] = []
    async with client.stream("GET", f"{RUNS}/{run_id}/events", headers=tenant.auth) as response:
        await asyncio.wait_for(_read_events(response, done), 10)
    assert [(kind, data["status"]) for kind, data in done] == [("status", "succeeded")]
