"""The worker's own behaviour in the stack: poison messages go to the DLQ (an unparsable one, a request for a run
that does not exist), a request that no longer applies is acked without touching the run, and the metrics count
runs by agent and status, runs in flight and the consumer's lag."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from aiaas.events import EventEnvelope, event_id
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested
from aiaas_testing import metric_value, scrape_metrics

from .client import Orch

pytestmark = pytest.mark.asyncio

DLQ_SUBJECT = "dlq.ORCH.orchestrator-runs"


def _request(tenant_id: uuid.UUID, run_id: uuid.UUID, reason: str = "start", sequence: int = 0) -> EventEnvelope:
    data = OrchRunRequested(run_id=run_id, agent="order", reason=reason, sequence=sequence)  # type: ignore[arg-type]
    return EventEnvelope(
        id=event_id(ORCH_RUN_REQUESTED, str(run_id), reason, str(sequence)),
        type=ORCH_RUN_REQUESTED,
        tenant_id=tenant_id,
        data=data.model_dump(mode="json"),
    )


async def _dead_letters(js, marker: str, timeout_s: float = 20) -> list:
    deadline = time.monotonic() + timeout_s
    while True:
        sub = await js.pull_subscribe(
            DLQ_SUBJECT, stream="DLQ", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        try:
            msgs = await sub.fetch(1000, timeout=1)
        except TimeoutError:
            msgs = []
        finally:
            await sub.unsubscribe()
        found = [m for m in msgs if marker in m.data.decode(errors="replace")]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def test_poison_requests_are_dead_lettered(e2e_stack, stack_nats, orch_tenant):
    tenant = await orch_tenant()
    js = stack_nats.jetstream()
    garbage = f"not an event {uuid.uuid4()}"
    await js.publish(f"orch.run.requested.{tenant.id}", garbage.encode(), headers={"Nats-Msg-Id": garbage})
    missing = uuid.uuid4()
    event = _request(tenant.id, missing)
    await js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.id)})

    unparsable = await _dead_letters(js, garbage)
    assert len(unparsable) == 1
    assert unparsable[0].headers["Aiaas-Original-Subject"] == f"orch.run.requested.{tenant.id}"
    assert unparsable[0].headers["Aiaas-Error"].startswith("unparsable run request")
    no_run = await _dead_letters(js, str(missing))
    assert len(no_run) == 1 and "not found" in no_run[0].headers["Aiaas-Error"]


async def test_a_stale_request_is_acked_and_changes_nothing(e2e_stack, http, stack_nats, orch_tenant):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    run_id = await orch.create("order", {"order_id": "ORD-1001"})
    done = await orch.settle(run_id)
    assert done["status"] == "succeeded"

    js = stack_nats.jetstream()
    for reason, sequence in (("start", 7), ("resume", 8), ("expire", 9)):  # new ids: not JetStream duplicates
        event = _request(tenant.id, run_id, reason, sequence)
        await js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.id)})
    deadline = time.monotonic() + 20
    while (await js.consumer_info("ORCH", "orchestrator-runs")).num_pending and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    again = await orch.get(run_id)
    assert (again["status"], again["deliveries"], again["updated_at"]) == (
        "succeeded",
        done["deliveries"],
        done["updated_at"],
    )

    samples = await scrape_metrics(e2e_stack.urls["worker-metrics"])
    assert metric_value(samples, "orch_runs_total", agent="order", status="succeeded") >= 1
    assert metric_value(samples, "orch_runs_in_flight") == 0
    assert any(s.name == "orch_consumer_pending" for s in samples)
