"""EXACT replay of one episode: the orchestrator's own executor and graphs, the outside world from the record.

What is real: `orchestrator.engine.executor.Executor` (the engine's command logic, saga and outcome rules), the
agents' compiled graphs (or the graphs a test hands in), LangGraph itself with an in-memory checkpointer (always
attached: `durability` without a saver raises in langgraph 1.2). What is recorded: every tool call, model call,
interrupt, resume and clock reading (`RecordedLedger`), the seed and flags (the run's), and the resume values
(the record's `resume` steps). Nothing else is reachable: the socket guard fails any connect, events go to an
in-memory sink under `replay.<replay id>.<type>`, no table is written.

The commands replayed are the record's: `start`, then `resume` with each recorded resume value, then `cancel` or
`expire` when the run ended so without an approval being denied.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from langgraph.checkpoint.memory import InMemorySaver

from evals.episodes.canonical import canonical_value, dumps_line, sha256_hex
from evals.replay.guard import NetworkDuringReplay, SocketGuard
from evals.replay.recorded import Divergence, RecordedLedger
from orchestrator import graphs as agent_graphs
from orchestrator.agents.manifest import BUILTIN_MANIFESTS, AgentManifest
from orchestrator.engine import Command, RunOutcome, RunSpec
from orchestrator.engine.executor import Executor, Graph
from orchestrator.llm import GatewayLLM

__all__ = ["REPLAY_NAMESPACE", "ReplayResult", "recorded_outcome", "replay_exact"]

# Replay's ids: fixed per episode, never a real tenant's or run's.
REPLAY_NAMESPACE = uuid.UUID("5f1d7c2e-6a0b-4c58-9d3e-2b7f0e4a9c11")
_FIXED_NOW = datetime(2000, 1, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class ReplayResult:
    """One episode's EXACT replay: `ok` when no step diverged and the outcome is equal after canonicalisation."""

    episode_id: str
    agent: str
    ok: bool
    steps: int
    divergence: str | None
    error: str | None  # the replay could not run (not a divergence): the CLI exits 2
    outcome_equal: bool
    trajectory_hash: str
    trajectory: list[list[str]]  # [node, kind, step key, fingerprint] of each call, in order
    sockets: int
    events: list[str]
    replayed: dict[str, Any] | None
    recorded: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["events"] = len(self.events)
        return out


class _Hooks:
    def __init__(self) -> None:
        self.heartbeats = 0
        self.statuses: list[str] = []

    async def heartbeat(self) -> None:
        self.heartbeats += 1

    async def status(self, status: str) -> None:
        self.statuses.append(status)


class _NoModel:
    """The model client slot: the record answers every model call, so nothing may reach this."""

    service_key = ""

    async def chat(self, **kwargs: Any) -> Any:  # noqa: ARG002
        raise RuntimeError("EXACT replay called the model client")


@functools.cache
def _agent_graphs() -> dict[str, Graph]:
    """The agents' graphs, compiled once per process (each replay copies them onto its own saver)."""
    return {name: graph for name, graph in agent_graphs.build_graphs().items()}


def manifest_for(episode: dict[str, Any]) -> AgentManifest:
    """The built-in manifest of the episode's graph, named and versioned as the run pinned it."""
    versions = episode.get("versions") or {}
    graph = str(versions.get("graph") or episode["agent"])
    base = BUILTIN_MANIFESTS[graph]
    return base.model_copy(update={"name": episode["agent"], "model_alias": episode["model_alias"]})


def recorded_outcome(episode: dict[str, Any]) -> dict[str, Any]:
    """What the run ended with, as replay compares it."""
    out = {"status": episode["status"], "output": episode.get("output"), "error": episode.get("error")}
    if episode["status"] == "interrupted":
        out["interrupt"] = episode.get("interrupt")
    return out


def _follow_ups(episode: dict[str, Any]) -> list[tuple[Command, Any]]:
    commands: list[tuple[Command, Any]] = [
        ("resume", (step.get("request") or {}).get("value")) for step in episode["steps"] if step["kind"] == "resume"
    ]
    code = (episode.get("error") or {}).get("code")
    ended = {"cancelled": "cancel", "expired": "expire"}.get(str(episode["status"]))
    if ended is not None and code == episode["status"]:
        commands.append((cast(Command, ended), None))
    return commands


def _outcome_dict(outcome: RunOutcome) -> dict[str, Any]:
    out = {"status": outcome.status, "output": outcome.output, "error": outcome.error}
    if outcome.status == "interrupted":
        out["interrupt"] = outcome.interrupt
    return out


async def replay_exact(
    episode: dict[str, Any], *, graphs: dict[str, Graph] | None = None, replay_id: str | None = None
) -> ReplayResult:
    """Replay `episode` (canonical, evals.episodes) against `graphs` (default: the agents' built-in graphs)."""
    episode_id = str(episode["episode_id"])
    replay_id = replay_id or episode_id
    clock = lambda: _FIXED_NOW  # noqa: E731  (business time comes from the record's clock steps)
    ledger = RecordedLedger(episode, clock=clock)
    executor = Executor(
        graphs=graphs if graphs is not None else _agent_graphs(),
        ledger=ledger,
        llm=cast(GatewayLLM, _NoModel()),
        clock=clock,
        comp_max_age_s=0.0,
        tool_deadline_s=0.0,
        faq_durability="sync",
    )
    spec = RunSpec(
        tenant_id=uuid.uuid5(REPLAY_NAMESPACE, "tenant"),
        run_id=uuid.uuid5(REPLAY_NAMESPACE, episode_id),
        manifest=manifest_for(episode),
        model_alias=str(episode["model_alias"]),
        seed=int(episode["seed"]),
        input=episode["input"],
        flags=episode.get("flags") or {},
        first_execution=True,
    )
    saver = InMemorySaver()
    thread = f"replay:{replay_id}"
    hooks = _Hooks()
    recorded = canonical_value(recorded_outcome(episode), mapping=False)
    divergence: str | None = None
    error: str | None = None
    replayed: dict[str, Any] | None = None
    with SocketGuard() as guard:
        try:
            outcome = await executor.execute_on(saver, thread, spec, "start", hooks)
            for command, value in _follow_ups(episode):
                later = dataclasses.replace(spec, first_execution=False)
                outcome = await executor.execute_on(saver, thread, later, command, hooks, resume_value=value)
            ledger.finish()
            replayed = canonical_value(_outcome_dict(outcome), mapping=False)
        except Divergence as exc:
            divergence = str(exc)
        except NetworkDuringReplay as exc:
            divergence = f"network during replay: {exc}"
        except Exception as exc:  # noqa: BLE001  (a record the graphs cannot run on is this episode's error)
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
    if guard.attempts and divergence is None:
        divergence = f"network during replay: {guard.attempts[0]}"
    outcome_equal = replayed is not None and dumps_line(replayed) == dumps_line(recorded)
    if divergence is None and error is None and not outcome_equal:
        divergence = f"outcome differs after canonicalisation: expected {recorded!r:.300}, got {replayed!r:.300}"
    trajectory = [served.as_list() for served in ledger.trajectory]
    return ReplayResult(
        episode_id=episode_id,
        agent=str(episode["agent"]),
        ok=divergence is None and error is None,
        steps=len(trajectory),
        divergence=divergence,
        error=error,
        outcome_equal=outcome_equal,
        trajectory_hash=sha256_hex({"steps": trajectory, "outcome": replayed}),
        trajectory=trajectory,
        sockets=len(guard.attempts),
        events=[f"replay.{replay_id}.{event.type}" for event, _ in ledger.sink],
        replayed=replayed,
        recorded=recorded,
    )
