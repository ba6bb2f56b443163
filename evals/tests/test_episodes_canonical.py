"""The canonical episode (evals.episodes.canonical): two recordings of the same behaviour give the same bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from evals.episodes.canonical import canonical_episode, dumps_line, logical_steps
from orchestrator.ledger import call_fingerprint, idem_key


def _recording(*, shift: int, charge_id: str, doc: uuid.UUID) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """One run's rows as the export reads them; `shift`, ids and keys differ per recording, the behaviour not."""
    tenant, run, call = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 12, 7, 10, tzinfo=UTC) + timedelta(seconds=shift)
    args = {"order_id": "ORD-1", "amount_minor": 500}
    key = idem_key(tenant, run, "charge_payment", 0, "payments.charge", args)
    result = {"id": charge_id, "created": 1765000000 + shift, "source": str(doc)}
    run_row = {
        "id": run, "tenant_id": tenant, "idempotency_key": f"k-{shift}", "agent": "order", "agent_version": 1,
        "versions": {"graph": "order"}, "model_alias": "gpt-4o-mini", "seed": 7, "input": {"order_id": "ORD-1"},
        "input_sha256": "x" * 64, "flags": {}, "status": "succeeded",
        "output": {"reply": {"charge_id": charge_id, "created": True}, "text": f"paid {charge_id}", "actions": []},
        "error": None, "interrupt": None, "resume_value": None, "deliveries": 1 + shift,
        "created_at": at, "updated_at": at, "started_at": at, "finished_at": at,
    }  # fmt: skip
    steps = [
        {
            "step_key": "charge_payment#0", "node": "charge_payment", "kind": "tool",
            "request": {"tool": "payments.charge", "args": args, "idem_key": key}, "request_sha256": "y" * 64,
            "response": result, "status": "ok", "error_class": None, "attempt": 1, "latency_ms": 3.5 + shift,
            "tokens_in": 0, "tokens_out": 0, "cost_usd": Decimal("0E-10"), "created_at": at,
        },
        {
            "step_key": "answer#1", "node": "answer", "kind": "llm",
            "request": {"model": "m", "messages": [{"role": "user", "content": f"about {charge_id}"}]},
            "request_sha256": "z" * 64, "status": "ok", "error_class": None, "attempt": 1, "latency_ms": 9.0,
            "response": {"text": "ok", "request_id": f"req-{shift}", "completion": {"id": f"chatcmpl-{shift}x"}},
            "tokens_in": 5, "tokens_out": 2, "cost_usd": Decimal("0.0000125000"), "created_at": at,
        },
    ]  # fmt: skip
    calls = [
        {
            "id": call, "node": "charge_payment", "seq": 0, "tool": "payments.charge", "args": args, "idem_key": key,
            "side_effect": True, "status": "succeeded", "attempts": 1, "result": result, "error_class": None,
            "error": None, "will_compensate": False, "compensation": {"tool": "payments.refund",
            "args": {"charge_id": charge_id}}, "compensation_of": None, "requested_at": at, "completed_at": at,
        }
    ]  # fmt: skip
    return run_row, steps, calls


def test_two_recordings_of_the_same_behaviour_are_byte_equal() -> None:
    first = canonical_episode(*_recording(shift=0, charge_id="ch_0123456789abcdef", doc=uuid.uuid4()))
    second = canonical_episode(*_recording(shift=5, charge_id="ch_fedcba9876543210", doc=uuid.uuid4()))

    assert dumps_line(first) == dumps_line(second)
    assert first["episode_id"] == second["episode_id"] and len(first["episode_id"]) == 16


def test_volatile_fields_are_stripped_and_ids_replaced_consistently() -> None:
    episode = canonical_episode(*_recording(shift=0, charge_id="ch_0123456789abcdef", doc=uuid.uuid4()))
    text = dumps_line(episode).decode()

    volatile = ("tenant_id", "run_id", "idem_key", "latency_ms", "created_at", "finished_at", "request_id",
                "deliveries", "idempotency_key", "input_sha256", "request_sha256", "0123456789abcdef")  # fmt: skip
    for name in volatile:
        assert name not in text, name
    charge = episode["tool_calls"][0]["result"]["id"]
    assert charge == "ch_0000000000000001"  # the first id met, in sorted-key order
    assert episode["output"]["reply"]["charge_id"] == charge and episode["output"]["text"] == f"paid {charge}"
    assert episode["tool_calls"][0]["compensation"]["args"]["charge_id"] == charge
    assert episode["steps"][1]["request"]["messages"][0]["content"] == f"about {charge}"
    assert episode["output"]["reply"]["created"] is True  # a boolean is data, never a timestamp
    assert "created" not in episode["steps"][0]["response"]
    assert episode["steps"][1]["response"]["completion"]["id"] == "chatcmpl-3"
    assert [s["cost_usd"] for s in episode["steps"]] == ["0", "0.0000125"]
    assert text.index('"agent"') < text.index('"episode_id"') < text.index('"steps"') < text.index('"tool_calls"')


def test_fingerprints_are_of_the_canonical_request_without_its_key() -> None:
    run, steps, calls = _recording(shift=0, charge_id="ch_0123456789abcdef", doc=uuid.uuid4())
    episode = canonical_episode(run, steps, calls)

    tool = episode["steps"][0]
    assert tool["fingerprint"] == call_fingerprint("tool", {"tool": "payments.charge", "args": tool["request"]["args"]})
    assert tool["fingerprint"] == call_fingerprint("tool", steps[0]["request"])  # the key never counts
    assert tool["fingerprint"] != call_fingerprint("retrieve", steps[0]["request"])  # the kind does
    llm = episode["steps"][1]
    assert llm["fingerprint"] == call_fingerprint("llm", llm["request"])


def test_logical_steps_take_a_retried_call_once_at_its_last_round() -> None:
    episode = {
        "steps": [
            {"step_key": "lookup#0", "node": "lookup", "status": "ok"},
            {"step_key": "charge#0", "node": "charge", "status": "error"},
            {"step_key": "charge#0@2", "node": "charge", "status": "error"},
            {"step_key": "charge#0@3", "node": "charge", "status": "ok"},
            {"step_key": "comp:charge#0", "node": "charge", "status": "ok"},
        ]
    }

    steps = logical_steps(episode)

    assert [(s["step_key"], s["status"]) for s in steps] == [
        ("lookup#0", "ok"),
        ("charge#0", "ok"),
        ("comp:charge#0", "ok"),
    ]
