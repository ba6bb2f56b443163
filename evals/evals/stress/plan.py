"""Fault plans (`evals/faults/*.yaml`): read and validated against `evals/schemas/fault_plan.schema.json`.

A plan that cannot be used is a `PlanError` naming the file and the place in it; the CLI turns it into exit 2.
Defaults the schema documents are filled here, so the schedule never depends on what a plan left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from evals.loader import SCHEMAS_DIR

__all__ = ["FaultPlan", "PlanError", "load_plan", "parse_plan"]

_DEFAULTS: dict[str, Any] = {"workers": 2, "worker_max_inflight": 16, "settle_s": 120.0, "warmup": 0.2}


class PlanError(ValueError):
    """A fault plan that cannot be used: `source` is the file (or `<inline>`), `where` the place in it."""

    def __init__(self, source: str, where: str, message: str) -> None:
        self.source = source
        self.where = where
        super().__init__(f"{source}: at {where}: {message}")


@dataclass(frozen=True)
class FaultPlan:
    source: str
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def n(self) -> int:
        return int(self.data["episodes"]["n"])

    @property
    def concurrency(self) -> int:
        return int(self.data["episodes"]["concurrency"])

    @property
    def mix(self) -> dict[str, float]:
        mix = self.data["episodes"].get("mix") or {"order": 1.0, "lead": 1.0, "faq": 1.0}
        return {agent: float(weight) for agent, weight in sorted(mix.items()) if weight > 0}

    @property
    def workers(self) -> int:
        return int(self.data["workers"])

    @property
    def settle_s(self) -> float:
        return float(self.data["settle_s"])

    @property
    def warmup(self) -> float:
        return float(self.data["warmup"])

    @property
    def faults(self) -> dict[str, Any]:
        faults: dict[str, Any] = self.data.get("faults", {})
        return faults

    def with_size(self, n: int | None, concurrency: int | None) -> FaultPlan:
        """The plan with `-n` / `-c` from the command line in place of its own."""
        episodes = dict(self.data["episodes"])
        if n is not None:
            episodes["n"] = n
        if concurrency is not None:
            episodes["concurrency"] = concurrency
        return parse_plan({**self.data, "episodes": episodes}, self.source)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / "fault_plan.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parse_plan(data: Any, source: str = "<inline>") -> FaultPlan:
    if not isinstance(data, dict):
        raise PlanError(source, "$", "a fault plan is a mapping")
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise PlanError(source, where, error.message)
    mix = data["episodes"].get("mix")
    if mix is not None and not any(weight > 0 for weight in mix.values()):
        raise PlanError(source, "$.episodes.mix", "at least one agent needs a weight above 0")
    for i, event in enumerate(data.get("faults", {}).get("events", [])):
        at = event["at"]
        if isinstance(at, list) and at[0] > at[1]:
            raise PlanError(source, f"$.faults.events[{i}].at", "the range's low end is above its high end")
    return FaultPlan(source, {**_DEFAULTS, **data})


def load_plan(path: Path) -> FaultPlan:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(source, "$", f"cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(source, "$", f"not valid YAML: {exc}") from None
    return parse_plan(data, source)
