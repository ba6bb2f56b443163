"""EXACT replay of the committed corpus (acceptance 4): no divergence, no socket, no business row; outputs equal
after canonicalisation; the same trajectory hash twice; a swapped pair of nodes or one changed prompt line is
reported at the first affected step."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from evals.episodes.canonical import dumps_line, logical_steps
from evals.replay.exact import REPLAY_NAMESPACE, replay_exact
from evals.replay.guard import NetworkDuringReplay, SocketGuard
from orchestrator.engine.context import RunContext
from orchestrator.graphs import build_graphs, faq, order

CORPUS = Path(__file__).resolve().parents[1] / "episodes"
REPLAY_TENANT = uuid.uuid5(REPLAY_NAMESPACE, "tenant")


def _corpus() -> list[dict[str, Any]]:
    return [orjson.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.read_bytes().splitlines()]


def _scenario(name: str) -> dict[str, Any]:
    return next(episode for episode in _corpus() if episode.get("scenario") == name)


async def _business_rows(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, ...]:
    """Rows of the replay's tenant (what a replay writing anything would have written). The database is shared
    with other sessions, so global counts move under this test; the throwaway stack of test_replay_api_runs.py
    compares global counts, and 0 sockets opened means no database was reached at all."""
    async with admin_session(sessions) as session:
        row = await session.execute(
            text(
                "select (select count(*) from orch_runs where tenant_id = :t),"
                " (select count(*) from orch_steps where tenant_id = :t),"
                " (select count(*) from tool_calls where tenant_id = :t),"
                " (select count(*) from event_outbox where tenant_id = :t)"
            ),
            {"t": REPLAY_TENANT},
        )
        return tuple(row.one())


def test_the_corpus_covers_the_agents_retries_compensation_and_interrupts() -> None:
    episodes = _corpus()
    assert len(episodes) >= 30
    by_agent = {agent: [e for e in episodes if e["agent"] == agent] for agent in ("faq", "order", "lead")}
    assert all(len(found) >= 8 for found in by_agent.values()), {a: len(f) for a, f in by_agent.items()}
    kinds = {step["kind"] for episode in episodes for step in episode["steps"]}
    assert {"llm", "tool", "retrieve", "compensation", "interrupt", "resume", "clock"} <= kinds
    assert any("@" in step["step_key"] for episode in episodes for step in episode["steps"])  # a ledger retry round
    assert any(call["attempts"] > 1 for episode in episodes for call in episode["tool_calls"])  # adapter retries
    assert {"succeeded", "compensated", "cancelled", "failed"} <= {episode["status"] for episode in episodes}
    assert len({episode["episode_id"] for episode in episodes}) == len(episodes)
    llm = [step for episode in episodes for step in episode["steps"] if step["kind"] == "llm"]
    assert all(step["response"]["completion"]["usage"]["total_tokens"] > 0 for step in llm)  # full replies
    assert all(step["response"]["deployment"] for step in llm)  # alias -> deployment
    assert all({"code_commit", "langgraph"} <= set(episode["versions"]) for episode in episodes)


async def test_exact_replay_of_the_corpus_diverges_nowhere_and_touches_nothing(
    admin_sessions: async_sessionmaker[AsyncSession],
) -> None:
    episodes = _corpus()
    before = await _business_rows(admin_sessions)

    results = [await replay_exact(episode) for episode in episodes]

    assert await _business_rows(admin_sessions) == before == (0, 0, 0, 0)
    assert [(r.episode_id, r.divergence, r.error) for r in results if not r.ok] == []
    assert sum(result.sockets for result in results) == 0
    for episode, result in zip(episodes, results, strict=True):
        assert result.replayed is not None and dumps_line(result.replayed) == dumps_line(result.recorded)
        assert result.steps == len(logical_steps(episode))
        assert all(subject.startswith(f"replay.{episode['episode_id']}.") for subject in result.events)
    assert any(subject.endswith(".saga.compensation.succeeded") for r in results for subject in r.events)


async def test_the_same_episode_gives_the_same_trajectory_hash_twice() -> None:
    episodes = [_scenario("order-approve"), _scenario("lead-buyer"), _scenario("faq-01")]

    first = [(await replay_exact(e)).trajectory_hash for e in episodes]
    second = [(await replay_exact(e)).trajectory_hash for e in episodes]

    assert first == second and len(set(first)) == 3


def _swapped_order_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Order with charge_payment before reserve_inventory."""
    graph = StateGraph(order.OrderState, context_schema=RunContext)
    nodes = {
        "lookup_order": order._lookup_order,
        "approve": order._approve,
        "denied": order._denied,
        "charge_payment": order._charge_payment,
        "reserve_inventory": order._reserve_inventory,
        "create_shipment": order._create_shipment,
        "notify": order._notify,
    }
    for name, fn in nodes.items():
        graph.add_node(name, fn)  # type: ignore[call-overload]
    graph.add_edge(START, "lookup_order")
    graph.add_edge("lookup_order", "approve")
    graph.add_conditional_edges("approve", lambda s: "denied" if s.get("denied") else "charge_payment")
    graph.add_edge("denied", END)
    graph.add_edge("charge_payment", "reserve_inventory")
    graph.add_edge("reserve_inventory", "create_shipment")
    graph.add_edge("create_shipment", "notify")
    graph.add_edge("notify", END)
    return graph.compile()


def _expected(episode: dict[str, Any], step_key: str) -> tuple[int, dict[str, Any]]:
    steps = logical_steps(episode)
    index = next(i for i, step in enumerate(steps) if step["step_key"] == step_key)
    return index, steps[index]


async def test_swapping_two_nodes_is_reported_at_the_first_affected_step() -> None:
    episode = _scenario("order-ok")
    index, reserve = _expected(episode, "reserve_inventory#0")
    _, charge = _expected(episode, "charge_payment#0")

    result = await replay_exact(episode, graphs={**build_graphs(), "order": _swapped_order_graph()})

    assert not result.ok and result.steps == index
    assert result.divergence is not None and result.divergence.startswith(
        f"divergence at step {index}: expected {reserve['fingerprint']} (node reserve_inventory, kind tool), "
        f"got {charge['fingerprint']} (node charge_payment, kind tool"
    )


@pytest.mark.parametrize(("prompt", "step_key"), [("CLASSIFY_PROMPT", "classify#0"), ("ANSWER_PROMPT", "answer#0")])
async def test_changing_one_prompt_line_is_reported_at_the_first_affected_step(
    monkeypatch: pytest.MonkeyPatch, prompt: str, step_key: str
) -> None:
    episode = _scenario("faq-01")
    index, expected = _expected(episode, step_key)
    monkeypatch.setattr(faq, prompt, getattr(faq, prompt) + "\nAnswer in English.")

    result = await replay_exact(episode)

    assert result.divergence is not None
    assert result.divergence.startswith(
        f"divergence at step {index}: expected {expected['fingerprint']} (node {expected['node']}, kind llm), got "
    )
    assert expected["fingerprint"] not in result.divergence.split("got ")[1]


async def test_the_socket_guard_fails_and_counts_every_connect() -> None:
    with SocketGuard() as guard:
        with pytest.raises(NetworkDuringReplay):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        with pytest.raises(NetworkDuringReplay):
            await asyncio.open_connection("127.0.0.1", 9)
    assert len(guard.attempts) == 2
    # Restored on exit: a socket pair still works, the module's connect is the original again.
    left, right = socket.socketpair()
    left.close()
    right.close()
    assert socket.socket.connect.__qualname__ != "SocketGuard.__enter__.<locals>.blocking.<locals>.refused"


async def test_a_node_that_reaches_the_network_fails_its_replay() -> None:
    episode = _scenario("lead-minimal")

    async def qualify_online(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        await asyncio.open_connection("127.0.0.1", 9)
        return {}

    graph = StateGraph(dict, context_schema=RunContext)
    graph.add_node("qualify", qualify_online)  # type: ignore[call-overload]
    graph.add_edge(START, "qualify")
    graph.add_edge("qualify", END)

    result = await replay_exact(episode, graphs={**build_graphs(), "lead": graph.compile()})

    assert not result.ok and result.sockets == 1
    assert result.divergence is not None and result.divergence.startswith("network during replay")
