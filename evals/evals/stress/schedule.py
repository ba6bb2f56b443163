"""The fault schedule: which episode gets which fault, and at which episode each stack event fires.

A pure function of (plan, seed, episodes): nothing here reads a clock or the machine, so the same seed gives the
same schedule, and `schedule_hash` (sha256 of its canonical JSON) proves it across runs. Each purpose draws from
its own seeded stream (`<seed>/model`, `<seed>/tool`, ...), so adding an event to a plan leaves the per-episode
faults as they were.

Stack events are pinned to an episode index, not to a wall-clock time: the event fires when that episode is
submitted, so a slower machine shifts when it happens but never what happens or in which order.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from evals.stress.episodes import AGENT_TOOL_OPERATIONS, Episode
from evals.stress.plan import FaultPlan

__all__ = ["EpisodeFaults", "Schedule", "StackEvent", "build_schedule", "canonical_hash", "toolbox_rule"]


@dataclass(frozen=True)
class EpisodeFaults:
    index: int
    agent: str
    tag: str
    model: dict[str, Any] | None  # {"kind": "429", "count": 1}
    tool: dict[str, Any] | None  # {"operation": "payments.charge", "kind": "5xx", ...}
    redeliver: bool


@dataclass(frozen=True)
class StackEvent:
    ordinal: int
    kind: str
    at_episode: int
    down_s: float | None = None
    requests: int | None = None


@dataclass(frozen=True)
class Schedule:
    plan: str
    seed: int
    n: int
    concurrency: int
    episodes: tuple[EpisodeFaults, ...]
    events: tuple[StackEvent, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "seed": self.seed,
            "n": self.n,
            "concurrency": self.concurrency,
            "episodes": [asdict(e) for e in self.episodes],
            "events": [asdict(e) for e in self.events],
        }

    @property
    def hash(self) -> str:
        return canonical_hash(self.as_dict())

    def injection_hash(self) -> str:
        """What the injector must have applied, in its log's shape (`Injector.applied_hash`)."""
        episodes = [
            {"index": e.index, "model": e.model, "tool": e.tool, "redeliver": e.redeliver} for e in self.episodes
        ]
        events = [{"ordinal": e.ordinal, "kind": e.kind, "at_episode": e.at_episode} for e in self.events]
        return canonical_hash({"episodes": episodes, "events": events})

    def events_at(self, index: int) -> list[StackEvent]:
        return [event for event in self.events if event.at_episode == index]

    def counts(self) -> dict[str, int]:
        counts = {
            "model_faults": sum(e.model is not None for e in self.episodes),
            "tool_faults": sum(e.tool is not None for e in self.episodes),
            "redeliveries": sum(e.redeliver for e in self.episodes),
        }
        for event in self.events:
            counts[event.kind] = counts.get(event.kind, 0) + 1
        return counts


def canonical_hash(value: Any) -> str:
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, [float(weights[name]) for name in names])[0]


def _model_fault(rng: random.Random, episode: Episode, spec: dict[str, Any] | None) -> dict[str, Any] | None:
    # Draw for every episode (the stream stays aligned), keep only for agents whose runs call a model.
    if spec is None:
        return None
    hit = rng.random() < float(spec["rate"])
    kind = _pick(rng, spec["kinds"])
    if not hit or not episode.calls_models:
        return None
    return {"kind": kind, "count": int(spec.get("count", 1))}


def _tool_fault(rng: random.Random, episode: Episode, spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    hit = rng.random() < float(spec["rate"])
    kind = _pick(rng, spec["kinds"])
    roll = rng.random()
    operations = AGENT_TOOL_OPERATIONS[episode.agent]
    if not hit or not operations:
        return None
    fault: dict[str, Any] = {"operation": operations[math.floor(roll * len(operations))], "kind": kind}
    if kind == "slow":
        fault["delay_ms"] = int(spec.get("slow_ms", 1500))
    elif kind in ("5xx", "429"):
        fault["fail_times"] = int(spec.get("fail_times", 2))
    return fault


def toolbox_rule(tenant: str, fault: dict[str, Any]) -> dict[str, Any]:
    """The toolbox control-API rule (POST /control/faults) for one episode's tool fault."""
    rule: dict[str, Any] = {"tenant": tenant, "operation": fault["operation"]}
    kind = fault["kind"]
    if kind == "5xx":
        rule.update(status=503, fail_times=fault["fail_times"], retry_after=0)
    elif kind == "429":
        rule.update(status=429, fail_times=fault["fail_times"], retry_after=0)
    elif kind == "slow":
        rule.update(delay_ms=fault["delay_ms"], count=1)
    elif kind == "lost_reply":
        rule.update(after_effect="error", count=1)
    else:
        raise ValueError(f"unknown tool fault kind {kind!r}")
    return rule


def _event_index(rng: random.Random, at: float | Sequence[float], n: int) -> int:
    share = float(at) if isinstance(at, (int, float)) else rng.uniform(float(at[0]), float(at[1]))
    return min(n - 1, max(0, math.floor(share * n)))


def build_schedule(plan: FaultPlan, seed: int, episodes: Sequence[Episode]) -> Schedule:
    faults = plan.faults
    model_rng = random.Random(f"{seed}/model")  # noqa: S311 - a reproducible schedule, not crypto
    tool_rng = random.Random(f"{seed}/tool")  # noqa: S311
    redeliver_rng = random.Random(f"{seed}/redelivery")  # noqa: S311
    event_rng = random.Random(f"{seed}/events")  # noqa: S311
    redelivery = faults.get("redelivery")
    per_episode = tuple(
        EpisodeFaults(
            index=episode.index,
            agent=episode.agent,
            tag=episode.tag,
            model=_model_fault(model_rng, episode, faults.get("model")),
            tool=_tool_fault(tool_rng, episode, faults.get("tool")),
            redeliver=redelivery is not None and redeliver_rng.random() < float(redelivery["rate"]),
        )
        for episode in episodes
    )
    events = []
    for ordinal, event in enumerate(faults.get("events", [])):
        kind = event["kind"]
        down_s = (
            event.get("down_s", 2.0 if kind == "nats_restart" else 1.0)
            if kind in ("nats_restart", "worker_kill")
            else None
        )
        requests = event.get("requests", 50) if kind == "toolbox_outage" else None
        events.append(StackEvent(ordinal, kind, _event_index(event_rng, event["at"], len(episodes)), down_s, requests))
    events.sort(key=lambda e: (e.at_episode, e.ordinal))
    return Schedule(plan.name, seed, len(episodes), plan.concurrency, per_episode, tuple(events))
