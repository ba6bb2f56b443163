"""Hand-built observations and tasks for the assertion engine's tests."""

from __future__ import annotations

from typing import Any

from evals.observation import Observation

__all__ = ["call", "event", "fulfilled_order", "task", "undeliverable_order"]


def task(*assertions: dict[str, Any], task_id: str = "t-1") -> dict[str, Any]:
    return {"id": task_id, "agent": "order", "critical": False, "assert": list(assertions)}


def call(
    tool: str,
    args: dict[str, Any] | None = None,
    *,
    cid: str | None = None,
    of: str | None = None,
    status: str = "succeeded",
) -> dict[str, Any]:
    """One ledger row of `RunHistory.tool_calls` (the fields the engine reads)."""
    return {"id": cid or f"id-{tool}", "tool": tool, "args": args or {}, "status": status, "compensation_of": of}


def event(kind: str, tool: str) -> dict[str, Any]:
    return {"type": f"tool.call.{kind}", "data": {"tool": tool}}


def _llm_step(tokens_in: int, tokens_out: int, latency_ms: float) -> dict[str, Any]:
    return {"kind": "llm", "node": "answer", "tokens_in": tokens_in, "tokens_out": tokens_out, "latency_ms": latency_ms}


def fulfilled_order() -> Observation:
    """ORD-1 reserved, charged, shipped and notified; two model steps for the budget checks."""
    tools = ["orders.get", "inventory.reserve", "payments.charge", "shipments.create", "notify.send"]
    calls = [call(t, {"order_id": "ORD-1"}) for t in tools]
    calls[2]["args"] = {"order_id": "ORD-1", "amount_minor": 5198, "currency": "usd"}
    calls[4]["args"] = {"channel": "email", "to": "ada@example.com"}
    return Observation(
        status="succeeded",
        output={
            "reply": {"order_id": "ORD-1", "approved": True, "amount_minor": 5198, "citations": ["a.md", "b.md"]},
            "text": "Order ORD-1 is paid (51.98 USD) and on its way: tracking number TRK1.",
            "actions": [{"tool": t, "status": "succeeded", "ref": f"ref-{t}"} for t in tools[1:]],
        },
        steps=[_llm_step(100, 20, 40.0), _llm_step(300, 80, 60.0), {"kind": "tool", "latency_ms": 5.0}],
        tool_calls=calls,
        events=[event(kind, t) for t in tools for kind in ("requested", "succeeded")],
        latency_ms=250.0,
    )


def undeliverable_order() -> Observation:
    """Shipment refused after the charge: the saga refunded the charge, then released the stock."""
    calls = [
        call("orders.get", cid="c1"),
        call("inventory.reserve", cid="c2"),
        call("payments.charge", cid="c3"),
        call("shipments.create", cid="c4", status="failed"),
        call("payments.refund", cid="c5", of="c3"),
        call("inventory.release", cid="c6", of="c2"),
    ]
    events = [event("requested", c["tool"]) for c in calls]
    events += [event("failed" if c["status"] == "failed" else "succeeded", c["tool"]) for c in calls]
    return Observation(
        status="compensated",
        error={"code": "address_undeliverable", "compensated": ["payments.charge", "inventory.reserve"]},
        tool_calls=calls,
        events=events,
    )
