"""What the three graphs share: the run context from LangGraph's runtime, actions, the `{reply, text, actions}`
output."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.runtime import Runtime

from orchestrator.engine.context import RunContext

__all__ = ["Actions", "action", "context", "output"]

# Each node appends the business tools that took effect; the reducer concatenates (a node's update adds to it).
Actions = Annotated[list[dict[str, Any]], operator.add]


def context(runtime: Runtime[RunContext]) -> RunContext:
    ctx = runtime.context
    if ctx is None:  # the engine always passes one; a graph invoked without it is a programming error
        raise RuntimeError("graph invoked without a RunContext")
    return ctx


def action(tool: str, status: str, ref: Any = None) -> dict[str, Any]:
    """One entry of `actions`: the tool, succeeded|failed|compensated|skipped, the backend object's id."""
    return {"tool": tool, "status": status, "ref": None if ref is None else str(ref)}


def output(reply: dict[str, Any], text: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"reply": reply, "text": text, "actions": list(actions)}
