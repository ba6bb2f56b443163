"""The expiry sweeper: interrupted runs past their expiry, of every tenant, get one `orch.run.requested` expire."""

from __future__ import annotations

from datetime import timedelta

import nats
import orjson
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from aiaas import clock
from aiaas.events import EventPublisher, ensure_topology
from aiaas_testing import NatsServer
from orchestrator.worker.sweeper import ExpirySweeper

from .factories import insert_run

pytestmark = pytest.mark.asyncio


@pytest.fixture
def private_nats(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


async def test_expired_interrupts_of_every_tenant_are_requested_once(
    private_nats, make_tenant, runtime_sessions, admin_sessions
):
    a, b = await make_tenant(), await make_tenant()
    past, future = clock.now() - timedelta(seconds=5), clock.now() + timedelta(hours=1)
    waiting = {"status": "interrupted", "interrupt": {"node": "approve", "payload": {"amount_minor": 125000}}}
    due_a = await insert_run(runtime_sessions, a.id, expires_at=past, deliveries=1, **waiting)
    due_b = await insert_run(runtime_sessions, b.id, expires_at=past, deliveries=2, **waiting)
    await insert_run(runtime_sessions, a.id, expires_at=future, **waiting)
    await insert_run(runtime_sessions, b.id, status="running", expires_at=past)

    nc = await nats.connect(private_nats.url)
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=())
        sweeper = ExpirySweeper(admin_sessions, EventPublisher(js), interval_s=60, batch=10_000)
        first = await sweeper.sweep_once()
        second = await sweeper.sweep_once()  # the runs still wait: republished under the same ids
        sub = await js.pull_subscribe(
            "orch.run.requested.>", stream="ORCH", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        msgs = await sub.fetch(10_000, timeout=2)
    finally:
        await nc.close()

    # Other tests' runs may be due too (shared database): ours are among the requests, each exactly once.
    assert first >= 2 and second >= 2
    ours = {orjson.loads(m.data)["data"]["run_id"]: orjson.loads(m.data) for m in msgs}
    assert str(due_a) in ours and str(due_b) in ours
    assert len([m for m in msgs if orjson.loads(m.data)["data"]["run_id"] in {str(due_a), str(due_b)}]) == 2
    assert ours[str(due_a)]["tenant_id"] == str(a.id)
    assert ours[str(due_a)]["data"] == {"run_id": str(due_a), "agent": "order", "reason": "expire", "sequence": 1}
    assert ours[str(due_b)]["data"]["sequence"] == 2
    assert {m.subject for m in msgs if str(a.id) in m.subject} == {f"orch.run.requested.{a.id}"}
