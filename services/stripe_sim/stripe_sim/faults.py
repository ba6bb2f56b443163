"""Injected failures for `/v1` requests, so clients' retries can be tested.

A rule answers the next `count` matching requests with `status` (500, 502, 503 or
429) in Stripe's error shape. `when="before"` fails without running the request;
`when="after"` runs it (and saves its idempotent result) and then answers the
error, as when a response is lost on its way back: a retry with the same
Idempotency-Key then gets the saved result replayed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from aiaas.standin import FaultRules
from stripe_sim.errors import StripeError

__all__ = ["FaultRegistry", "FaultRule", "FaultStatus", "FaultWhen", "fault_error"]

FaultStatus = Literal[500, 502, 503, 429]
FaultWhen = Literal["before", "after"]


@dataclass(slots=True)
class FaultRule:
    """Answer `remaining` more matching requests with `status`."""

    id: int
    status: FaultStatus
    remaining: int | None  # never None here (a count is required); typed as aiaas.standin.CountedRule's
    when: FaultWhen
    method: str | None
    path_prefix: str | None

    def matches(self, method: str, path: str) -> bool:
        """Whether a `method` request to `path` is one this rule fails."""
        if self.method is not None and self.method != method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def as_dict(self) -> dict[str, object]:
        """JSON view of the rule."""
        return asdict(self)


class FaultRegistry:
    """Ordered rules; the first matching rule is consumed."""

    def __init__(self) -> None:
        self._rules: FaultRules[FaultRule] = FaultRules()

    def add(
        self, status: FaultStatus, count: int, when: FaultWhen, method: str | None, path_prefix: str | None
    ) -> FaultRule:
        """Register a rule for the next `count` matching requests and return it."""
        return self._rules.add(lambda rule_id: FaultRule(rule_id, status, count, when, method, path_prefix))

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule failing this request, one use consumed; None if no rule matches."""
        return self._rules.take(lambda rule: rule.matches(method, path))

    def rules(self) -> list[FaultRule]:
        """The active rules, in matching order."""
        return self._rules.rules()

    def clear(self) -> int:
        """Remove every rule; return how many were removed."""
        return self._rules.clear()


def fault_error(status: int) -> StripeError:
    """The error Stripe answers with that status."""
    if status == 429:
        return StripeError(
            429,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            code="rate_limit",
        )
    return StripeError(
        status,
        "An unknown error occurred while processing your request (injected by stripe_sim).",
        type="api_error",
    )
