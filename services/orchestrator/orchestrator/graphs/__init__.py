"""The agents' LangGraph graphs (faq, order, lead), compiled once without a checkpointer: the engine gives each run
a copy on its own tenant-bound saver (`graph.copy(update={"checkpointer": saver})`). No node has a RetryPolicy:
tool calls retry in the tool adapter and the ledger, never by re-running a node."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from orchestrator.agents.manifest import GraphName
from orchestrator.graphs import faq, lead, order

__all__ = ["build_graphs"]


def build_graphs() -> dict[GraphName, CompiledStateGraph[Any, Any, Any, Any]]:
    return {"faq": faq.build(), "order": order.build(), "lead": lead.build()}
