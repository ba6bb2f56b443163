"""Where STRESS episodes come from: a generator mixing Order/Lead/FAQ inputs (seeded), the golden tasks, or a file
of episodes (the corpus `evals/episodes/`, JSON Lines or a JSON list).

Each episode carries its tag (`stress-<seed>-<index>`) inside the text its model calls see (the lead's message, the
FAQ question): the provider simulator's fault rules match on it (`when_text_contains`), so a model fault hits
exactly the episode the schedule gave it, whatever the interleaving.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.loader import EVALS_DIR, GOLDEN_DIR, TaskFileError, load_tasks
from evals.stress.plan import FaultPlan

__all__ = ["AGENT_TOOL_OPERATIONS", "Episode", "EpisodeSourceError", "load_episodes", "tag_for"]

# The toolbox operations each agent's graph calls on its usual path (faq calls ingestion only).
AGENT_TOOL_OPERATIONS: dict[str, tuple[str, ...]] = {
    "order": ("orders.get", "inventory.reserve", "payments.charge", "shipments.create", "notify.send"),
    "lead": ("crm.find_leads", "crm.create_lead", "crm.schedule_callback", "notify.send"),
    "faq": (),
}
CORPUS_DIR = EVALS_DIR / "episodes"
_LLM_AGENTS = frozenset({"lead", "faq"})
_TEXT_FIELD = {"lead": "message", "faq": "question"}
_QUESTIONS = (
    "How long do refunds take after I return an order?",
    "Which payment methods do you accept?",
    "How much does express shipping cost?",
    "Can I pause my subscription?",
)
_LEAD_MESSAGES = (
    "We want a demo of the enterprise plan.",
    "Urgent: pricing for 200 seats this quarter, please.",
    "Just browsing, maybe later.",
)


class EpisodeSourceError(ValueError):
    """Episodes that cannot be used (a missing or malformed file, an unknown agent)."""


@dataclass(frozen=True)
class Episode:
    index: int
    agent: str
    input: dict[str, Any]
    tag: str
    toolbox_seed: dict[str, Any] | None = None
    resume: tuple[Any, ...] = field(default_factory=tuple)
    origin: str = "generator"

    @property
    def calls_models(self) -> bool:
        return self.agent in _LLM_AGENTS

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "agent": self.agent, "tag": self.tag, "origin": self.origin}


def tag_for(seed: int, index: int) -> str:
    return f"stress-{seed}-{index:05d}"


def _tagged(agent: str, run_input: dict[str, Any], tag: str) -> dict[str, Any]:
    field_name = _TEXT_FIELD.get(agent)
    if field_name is None:
        return dict(run_input)
    return {**run_input, field_name: f"{run_input.get(field_name, '')} (ref {tag})".strip()}


def _generated(plan: FaultPlan, seed: int) -> list[Episode]:
    rng = random.Random(f"{seed}/episodes")  # noqa: S311 - a reproducible workload, not crypto
    agents, weights = zip(*plan.mix.items(), strict=True)
    episodes = []
    for index in range(plan.n):
        agent = rng.choices(agents, weights)[0]
        tag = tag_for(seed, index)
        resume: tuple[Any, ...] = ()
        if agent == "order":
            # ORD-1003 (demo data) is over the approval threshold: it interrupts and is approved on resume.
            order_id = rng.choices(("ORD-1001", "ORD-1002", "ORD-1003"), (3, 3, 1))[0]
            run_input: dict[str, Any] = {"order_id": order_id, "notify_email": f"buyer{index}@example.com"}
            resume = (True,) if order_id == "ORD-1003" else ()
        elif agent == "lead":
            run_input = {
                "email": f"lead{index}@example.com",
                "name": f"Lead {index}",
                "company": f"Company {index % 17}",
                "message": rng.choice(_LEAD_MESSAGES),
            }
        else:
            run_input = {"question": rng.choice(_QUESTIONS)}
        episodes.append(Episode(index, agent, _tagged(agent, run_input, tag), tag, resume=resume))
    return episodes


def _from_golden(plan: FaultPlan, seed: int, golden_dir: Path) -> list[Episode]:
    try:
        tasks = load_tasks(golden_dir)
    except TaskFileError as exc:
        raise EpisodeSourceError(str(exc)) from None
    if not tasks:
        raise EpisodeSourceError(f"no golden tasks under {golden_dir}")
    episodes = []
    for index in range(plan.n):
        task = tasks[index % len(tasks)]
        tag = tag_for(seed, index)
        data = task.data
        seed_data = (data.get("fixtures") or {}).get("toolbox")
        episodes.append(
            Episode(
                index,
                task.agent,
                _tagged(task.agent, data["input"]["run_input"], tag),
                tag,
                toolbox_seed=seed_data,
                resume=tuple(data["input"].get("resume") or ()),
                origin=f"golden:{task.id}",
            )
        )
    return episodes


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EpisodeSourceError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise EpisodeSourceError(f"{path}: not JSON Lines or a JSON list: {exc}") from None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise EpisodeSourceError(f"{path}: expected one JSON object per episode")
    return list(records)


def _recorded_resumes(record: dict[str, Any]) -> list[Any]:
    """The values a recorded episode was resumed with: its `resume` steps' requests, else `resume_value`."""
    recorded = record.get("steps")
    steps: list[Any] = recorded if isinstance(recorded, list) else []
    values = [
        step["request"]["value"]
        for step in steps
        if isinstance(step, dict)
        and step.get("kind") == "resume"
        and isinstance(step.get("request"), dict)
        and "value" in step["request"]
    ]
    if not values and record.get("resume_value") is not None:
        values = [record["resume_value"]]
    return values


def _from_file(plan: FaultPlan, seed: int, path: Path) -> list[Episode]:
    return _from_records(plan, seed, _records(path), str(path))


def _from_records(plan: FaultPlan, seed: int, records: list[dict[str, Any]], path: str) -> list[Episode]:
    """Corpus episodes (`aiaas.episode/1` of evals/episodes/corpus.jsonl, or any records with `agent` and `input`
    / `run_input` / `run.input`); the resume values from the recorded `resume` steps (or a list in `resume`), the
    toolbox seed from `toolbox`. A recorded episode left waiting at its interrupt has no value: it is cancelled."""
    episodes = []
    for index in range(plan.n):
        record = records[index % len(records)]
        nested = record.get("run")
        run: dict[str, Any] = nested if isinstance(nested, dict) else {}
        agent = record.get("agent") or run.get("agent")
        run_input = record.get("input", record.get("run_input", run.get("input")))
        if agent not in AGENT_TOOL_OPERATIONS or not isinstance(run_input, dict):
            where = f"{path}: episode {index % len(records)}"
            raise EpisodeSourceError(f"{where}: needs `agent` (order, lead or faq) and an `input` object")
        tag = tag_for(seed, index)
        resume = record.get("resume")
        if resume is None:
            resume = _recorded_resumes(record)
        episodes.append(
            Episode(
                index,
                agent,
                _tagged(agent, run_input, tag),
                tag,
                toolbox_seed=record.get("toolbox"),
                resume=tuple(resume if isinstance(resume, list) else ()),
                origin=f"file:{record.get('episode_id', record.get('id', index % len(records)))}",
            )
        )
    return episodes


def _corpus_by_ids(ids: list[str], corpus_dir: Path) -> list[dict[str, Any]]:
    by_id = {
        str(record.get("episode_id")): record
        for path in sorted(corpus_dir.glob("*.jsonl"))
        for record in _records(path)
    }
    missing = [episode_id for episode_id in ids if episode_id not in by_id]
    if missing:
        raise EpisodeSourceError(f"unknown episode ids (not in {corpus_dir}): {', '.join(missing[:10])}")
    return [by_id[episode_id] for episode_id in ids]


def load_episodes(source: str, plan: FaultPlan, seed: int) -> list[Episode]:
    """`generator` (default); `golden` or a folder of golden tasks; a JSONL/JSON file of episodes or a folder of
    JSONL files (the corpus, evals/episodes); or comma-separated episode ids of that corpus."""
    if source == "generator":
        return _generated(plan, seed)
    if source == "golden":
        return _from_golden(plan, seed, GOLDEN_DIR)
    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if files:
            return _from_records(plan, seed, [r for f in files for r in _records(f)], str(path))
        return _from_golden(plan, seed, path)
    if path.exists():
        return _from_file(plan, seed, path)
    ids = [part.strip() for part in source.split(",") if part.strip()]
    if ids and all(part.isalnum() for part in ids):
        return _from_records(plan, seed, _corpus_by_ids(ids, CORPUS_DIR), source)
    raise EpisodeSourceError(f"{source}: no such file (expected generator, golden, a folder, a file or episode ids)")
