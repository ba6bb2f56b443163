"""The orchestrator worker of `benchmarks/orchestrator.py`, with one more graph: `bench`, four nodes (prepare ->
lookup (one ledger tool call, `orders.get`) -> think (one model call through the gateway) -> finish).

The worker is `python -m orchestrator work` itself (orchestrator.worker.process.work: consumer, RLS checkpoints,
ledger, gateway client); only the graph registry and the manifest a `bench` run pins are extended here, before the
engine is built. Nothing else changes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

import orchestrator.graphs as graphs
import orchestrator.worker.runs as runs
from orchestrator.agents.manifest import OUTPUT_SCHEMA, AgentManifest
from orchestrator.engine.context import RunContext
from orchestrator.graphs.common import Actions, context, output
from orchestrator.worker.process import work
from orchestrator.worker.repository import RunRow

BENCH_AGENT = "bench"


class BenchState(TypedDict, total=False):
    input: dict[str, Any]
    actions: Actions
    order: dict[str, Any]
    said: str
    output: dict[str, Any]


async def _prepare(state: BenchState) -> dict[str, Any]:
    return {"order": {"id": state["input"]["order_id"]}}


async def _lookup(state: BenchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    order = await context(runtime).node("lookup").tool("orders.get", {"order_id": state["order"]["id"]})
    return {"order": order}


async def _think(state: BenchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    reply = (
        await context(runtime)
        .node("think")
        .llm([{"role": "user", "content": f"Summarise order {state['order']['id']}."}], max_tokens=16)
    )
    return {"said": str(reply.get("text", ""))}


async def _finish(state: BenchState) -> dict[str, Any]:
    return {"output": output({"order_id": state["order"]["id"]}, state.get("said", ""), [])}


def build_bench() -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(BenchState, context_schema=RunContext)
    for name, node in (("prepare", _prepare), ("lookup", _lookup), ("think", _think), ("finish", _finish)):
        graph.add_node(name, node)  # type: ignore[call-overload]
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "lookup")
    graph.add_edge("lookup", "think")
    graph.add_edge("think", "finish")
    graph.add_edge("finish", END)
    return graph.compile()


def main() -> int:
    builtin_graphs = graphs.build_graphs
    builtin_manifest = runs.pinned_manifest

    def with_bench() -> dict[Any, CompiledStateGraph[Any, Any, Any, Any]]:
        return {**builtin_graphs(), BENCH_AGENT: build_bench()}

    def manifest(row: RunRow) -> AgentManifest:
        if row.agent != BENCH_AGENT:
            return builtin_manifest(row)
        return AgentManifest.model_construct(
            name=BENCH_AGENT,
            version=1,
            graph=BENCH_AGENT,  # type: ignore[arg-type]  # the bench graph, registered above
            graph_version="bench-v1",
            prompt_version="bench-v1",
            model_alias=row.model_alias,
            tools={"orders.get": "1"},
            input_schema={"type": "object"},
            output_schema=dict(OUTPUT_SCHEMA),
            durability="sync",
        )

    graphs.build_graphs = with_bench  # type: ignore[assignment]
    runs.pinned_manifest = manifest
    return work(argparse.Namespace())


if __name__ == "__main__":
    sys.exit(main())
