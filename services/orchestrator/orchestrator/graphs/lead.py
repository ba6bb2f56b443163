"""Lead: qualify (model -> score) -> dedupe (`crm.find_leads`) -> create_lead (only when none) -> schedule_callback
-> notify.

- The score is the model's when its whole answer is a number 0-100; otherwise (the default alias is the provider
  simulator's seeded text) it comes from rules on the input, and `score_source` says which.
- The callback time is fixed in `qualify` (the input's `callback_at`, else the next business day 10:00 UTC by the
  engine's clock, read through `node.now()`: recorded, so a replay reads the same time) and kept in the
  checkpointed state: a re-executed `schedule_callback` sends the same arguments,
  hence the same idempotency key.
- A lead is created once per email: a second run finds it (dedupe) and skips `create_lead`; a `lead_exists`
  answer (another run created it in between) is read back with `crm.find_leads`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from orchestrator.engine.context import RunContext
from orchestrator.engine.types import StepFailed
from orchestrator.graphs.common import Actions, action, context, output

__all__ = ["LeadState", "build", "next_business_day_10", "score_by_rules", "score_from_model"]

_NUMBER = re.compile(r"^\s*(\d{1,3})\s*\.?\s*$")
_BUYING = ("buy", "purchase", "pricing", "price", "quote", "demo", "trial", "enterprise", "contract", "licen")
_URGENT = ("urgent", "asap", "today", "this week", "soon")


class LeadState(TypedDict, total=False):
    input: dict[str, Any]
    score: int
    score_source: str
    callback_at: str
    lead_id: str | None
    lead_created: bool
    callback_id: str
    output: dict[str, Any]
    actions: Actions


def score_from_model(text: str) -> int | None:
    """The model's score when its whole answer is a number 0-100, else None."""
    match = _NUMBER.match(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 0 <= value <= 100 else None


def score_by_rules(lead: dict[str, Any]) -> int:
    """20, +25 with a company, +15 with a phone, +25 for buying words, +15 for urgency (at most 100)."""
    message = str(lead.get("message", "")).lower()
    score = 20
    if lead.get("company"):
        score += 25
    if lead.get("phone"):
        score += 15
    if any(word in message for word in _BUYING):
        score += 25
    if any(word in message for word in _URGENT):
        score += 15
    return min(score, 100)


def next_business_day_10(now: datetime) -> datetime:
    """10:00 UTC on the next weekday after `now`'s UTC date."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(10, 0), tzinfo=UTC)


async def _qualify(state: LeadState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("qualify")

    lead = state["input"]
    described = f"Name: {lead['name']}\nCompany: {lead.get('company') or '-'}\nMessage: {lead['message']}"
    reply = await node.llm(
        [
            {
                "role": "system",
                "content": "Score how likely this sales lead is to buy, from 0 to 100. Answer with the number only.",
            },
            {"role": "user", "content": described},
        ],
        max_tokens=4,
    )
    score = score_from_model(str(reply.get("text", "")))
    source = "model"
    if score is None:
        score, source = score_by_rules(lead), "rules"
    callback_at = lead.get("callback_at") or next_business_day_10(await node.now()).isoformat()
    return {"score": score, "score_source": source, "callback_at": str(callback_at)}


async def _dedupe(state: LeadState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("dedupe")
    found = await node.tool("crm.find_leads", {"email": state["input"]["email"]})
    leads = found.get("data", []) if isinstance(found, dict) else []
    return {"lead_id": str(leads[0]["id"]) if leads else None, "lead_created": False}


async def _create_lead(state: LeadState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    if state.get("lead_id"):
        return {"actions": [action("crm.create_lead", "skipped", state["lead_id"])]}
    node = context(runtime).node("create_lead")
    lead = state["input"]
    args: dict[str, Any] = {
        "email": lead["email"],
        "name": lead["name"],
        "source": "orchestrator",
        "score": state["score"],
        "notes": str(lead["message"])[:1000],
    }
    for optional in ("company", "phone"):
        if lead.get(optional):
            args[optional] = lead[optional]
    try:
        created = await node.tool("crm.create_lead", args)
    except StepFailed as exc:
        if exc.code != "lead_exists":
            raise
        found = await node.tool("crm.find_leads", {"email": lead["email"]})
        leads = found.get("data", []) if isinstance(found, dict) else []
        if not leads:
            raise
        return {"lead_id": str(leads[0]["id"]), "actions": [action("crm.create_lead", "skipped", leads[0]["id"])]}
    return {
        "lead_id": str(created["id"]),
        "lead_created": True,
        "actions": [action("crm.create_lead", "succeeded", created["id"])],
    }


async def _schedule_callback(state: LeadState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("schedule_callback")
    args = {
        "lead_id": state["lead_id"],
        "at": state["callback_at"],
        "channel": "phone",
        "note": f"Lead score {state['score']} ({state['score_source']})",
    }
    callback = await node.tool("crm.schedule_callback", args)
    return {
        "callback_id": str(callback["id"]),
        "actions": [action("crm.schedule_callback", "succeeded", callback["id"])],
    }


async def _notify(state: LeadState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("notify")
    lead = state["input"]
    text = f"Thank you, {lead['name']}. We will call you at {state['callback_at']}."
    message = await node.tool(
        "notify.send",
        {"channel": "email", "to": lead["email"], "subject": "We will call you back", "body": text},
    )
    actions = [*state.get("actions", []), action("notify.send", "succeeded", message["id"])]
    reply = {
        "lead_id": state["lead_id"],
        "created": bool(state.get("lead_created")),
        "score": state["score"],
        "score_source": state["score_source"],
        "callback_id": state["callback_id"],
        "callback_at": state["callback_at"],
    }
    return {"output": output(reply, text, actions), "actions": [actions[-1]]}


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(LeadState, context_schema=RunContext)
    for name, fn in (
        ("qualify", _qualify),
        ("dedupe", _dedupe),
        ("create_lead", _create_lead),
        ("schedule_callback", _schedule_callback),
        ("notify", _notify),
    ):
        graph.add_node(name, fn)
    graph.add_edge(START, "qualify")
    graph.add_edge("qualify", "dedupe")
    graph.add_edge("dedupe", "create_lead")
    graph.add_edge("create_lead", "schedule_callback")
    graph.add_edge("schedule_callback", "notify")
    graph.add_edge("notify", END)
    return graph.compile()
