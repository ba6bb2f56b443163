"""Acceptance 8: NATS stopped and restarted while runs call tools. Afterwards every `tool.call.requested` in
ORCH_EVENTS has exactly one terminal event (`tool.call.succeeded|failed`), every run one `orch.run.completed`, no
event twice, and every event is valid against its JSON Schema in data-plane/events/.

What was written while NATS was down reached the stream through the outbox (relay), what was published twice (the
direct publish, then the relay) was dropped by JetStream's duplicate window (Nats-Msg-Id = the event id).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from .client import SETTLED, Orch, read_stream

pytestmark = pytest.mark.asyncio

EVENTS_DIR = Path(__file__).resolve().parents[4] / "data-plane" / "events"
LEADS = [
    {"email": f"restart{i}@example.com", "name": f"Restart {i}", "message": "Please call me back."} for i in range(4)
]
ORDERS = [{"order_id": "ORD-1001"}, {"order_id": "ORD-1002"}]


def _validators() -> dict[str, Draft202012Validator]:
    schemas = {path.stem: json.loads(path.read_text()) for path in EVENTS_DIR.glob("*.json")}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return {name: Draft202012Validator(schema, registry=registry) for name, schema in schemas.items()}


async def test_each_requested_tool_call_has_one_terminal_event_across_a_nats_restart(
    e2e_stack, http, stack_nats, orch_tenant
):
    tenant = await orch_tenant()
    orch = Orch(http, e2e_stack.urls["orchestrator"], tenant)
    rule = {"tenant": str(tenant.id), "operation": "*", "count": None, "delay_ms": 250}
    async with http.post(f"{e2e_stack.urls['toolbox']}/control/faults", json=rule) as resp:
        assert resp.status == 201, await resp.text()  # each tool call takes a while: NATS goes away mid-run
    runs = [await orch.create("lead", lead) for lead in LEADS] + [await orch.create("order", o) for o in ORDERS]

    await asyncio.sleep(1.0)
    in_flight = [run_id for run_id in runs if (await orch.get(run_id))["status"] not in SETTLED]
    assert in_flight, "every run finished before NATS went away: nothing was tested"
    e2e_stack.nats.stop()
    await asyncio.sleep(3.0)
    e2e_stack.nats.start()

    finals = [
        await orch.settle(run_id, until=frozenset({"succeeded", "failed", "compensated"}), timeout_s=180)
        for run_id in runs
    ]
    assert [run["status"] for run in finals] == ["succeeded"] * len(runs), finals
    ledger = [call for run_id in runs for call in (await orch.history(run_id))["tool_calls"]]
    assert ledger and all(call["status"] in ("succeeded", "failed") for call in ledger)

    js = stack_nats.jetstream()
    deadline = time.monotonic() + 60
    while True:  # the outbox relay catches up with what was written while NATS was down
        tools = await read_stream(js, f"tool.call.*.{tenant.id}")
        completed = await read_stream(js, f"orch.run.completed.{tenant.id}")
        terminal = [e for e in tools if e.type != "tool.call.requested"]
        if len(terminal) >= len(ledger) and len(completed) >= len(runs) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)

    requested = [e for e in tools if e.type == "tool.call.requested"]
    assert sorted(e.data["idem_key"] for e in requested) == sorted(call["idem_key"] for call in ledger)
    per_key = Counter(e.data["idem_key"] for e in terminal)
    assert {e.data["idem_key"]: per_key[e.data["idem_key"]] for e in requested} == {
        call["idem_key"]: 1 for call in ledger
    }
    assert len(per_key) == len(requested)  # no terminal event without its requested one
    assert sorted(e.data["run_id"] for e in completed) == sorted(str(run_id) for run_id in runs)
    everything = tools + completed
    assert len({e.id for e in everything}) == len(everything)  # nothing stored twice

    validators = _validators()
    for event in everything:
        errors = list(validators[event.type].iter_errors(event.model_dump(mode="json")))
        assert errors == [], (event.type, [e.message for e in errors])
