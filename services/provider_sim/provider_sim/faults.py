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

from dataclasses import asdict, dataclass
from typing import get_args

from aiaas.standin import FaultRules
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
    """A runtime fault for a model (or `*`), applied `remaining` more times (None = until cleared).

    With `when_text_contains`, only to requests whose last user message contains it (case-insensitive): a model
    that fails on one kind of question and answers the rest, the same way every time.
    """

    id: int
    model: str
    fault: FaultName
    remaining: int | None
    after_tokens: int
    when_text_contains: str | None = None

    def matches(self, model: str, text: str | None) -> bool:
        if self.model not in (model, ANY_MODEL):
            return False
        needle = self.when_text_contains
        return needle is None or (text is not None and needle.casefold() in text.casefold())

    def as_dict(self) -> dict[str, object]:
        """JSON view of the rule."""
        return asdict(self)


class FaultRegistry:
    """Ordered runtime fault rules; the first rule matching a model wins."""

    def __init__(self) -> None:
        self._rules: FaultRules[FaultRule] = FaultRules()

    def add(
        self, model: str, fault: FaultName, count: int | None, after_tokens: int, when_text_contains: str | None = None
    ) -> FaultRule:
        """Register a rule and return it."""
        return self._rules.add(
            lambda rule_id: FaultRule(rule_id, model, fault, count, after_tokens, when_text_contains)
        )

    def take(self, model: str, text: str | None = None) -> Fault | None:
        """The fault for the next request to `model` (last user text `text`), consuming one use of the rule."""
        rule = self._rules.take(lambda rule: rule.matches(model, text))
        return None if rule is None else Fault(rule.fault, rule.after_tokens)

    def clear(self, model: str | None = None) -> int:
        """Remove every rule (or those for `model`); return how many were removed."""
        return self._rules.clear(None if model is None else lambda rule: rule.model == model)

    def rules(self) -> list[FaultRule]:
        """The active rules, in matching order."""
        return self._rules.rules()
