"""Fault injection: runtime rules set through the control API, consumed per request.

Fault kinds:
  "500"          internal server error
  "429"          rate limited, with a `retry-after` header
  "529"          overloaded (Anthropic 529; OpenAI paths answer 503)
  "timeout"      hold the request open without answering
  "drop_stream"  streaming: send `after_tokens` chunks then cut the connection;
                 non-streaming: cut the connection mid-response
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import get_args

from provider_sim.config import FaultName

__all__ = ["ANY_MODEL", "FAULT_NAMES", "Fault", "FaultRegistry", "FaultRule"]

ANY_MODEL = "*"
FAULT_NAMES: tuple[str, ...] = get_args(FaultName)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to apply to one request."""

    kind: FaultName
    after_tokens: int


@dataclass(slots=True)
class FaultRule:
    """A runtime fault for a model (or `*`), applied `remaining` more times (None = until cleared)."""

    id: int
    model: str
    fault: FaultName
    remaining: int | None
    after_tokens: int

    def as_dict(self) -> dict[str, object]:
        """JSON view of the rule."""
        return asdict(self)


class FaultRegistry:
    """Ordered runtime fault rules; the first rule matching a model wins."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, model: str, fault: FaultName, count: int | None, after_tokens: int) -> FaultRule:
        """Register a rule and return it."""
        rule = FaultRule(next(self._ids), model, fault, count, after_tokens)
        self._rules.append(rule)
        return rule

    def take(self, model: str) -> Fault | None:
        """The fault for the next request to `model`, consuming one use of the matching rule."""
        for rule in self._rules:
            if rule.model not in (model, ANY_MODEL):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
            return Fault(rule.fault, rule.after_tokens)
        return None

    def clear(self, model: str | None = None) -> int:
        """Remove every rule (or those for `model`); return how many were removed."""
        before = len(self._rules)
        self._rules = [] if model is None else [r for r in self._rules if r.model != model]
        return before - len(self._rules)

    def rules(self) -> list[FaultRule]:
        """The active rules, in matching order."""
        return list(self._rules)
