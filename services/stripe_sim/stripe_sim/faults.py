"""Injected failures for `/v1` requests, so clients' retries can be tested.

A rule answers the next `count` matching requests with `status` (500, 502, 503 or
429) in Stripe's error shape. `when="before"` fails without running the request;
`when="after"` runs it (and saves its idempotent result) and then answers the
error, as when a response is lost on its way back: a retry with the same
Idempotency-Key then gets the saved result replayed.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Literal

from stripe_sim.errors import StripeError

__all__ = ["FaultRegistry", "FaultRule", "FaultStatus", "FaultWhen", "fault_error"]

FaultStatus = Literal[500, 502, 503, 429]
FaultWhen = Literal["before", "after"]


@dataclass(slots=True)
class FaultRule:
    """Answer `remaining` more matching requests with `status`."""

    id: int
    status: FaultStatus
    remaining: int
    when: FaultWhen
    method: str | None
    path_prefix: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class FaultRegistry:
    """Ordered rules; the first matching rule is consumed."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(
        self, status: FaultStatus, count: int, when: FaultWhen, method: str | None, path_prefix: str | None
    ) -> FaultRule:
        rule = FaultRule(next(self._ids), status, count, when, method, path_prefix)
        self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        for rule in self._rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule
        return None

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def clear(self) -> int:
        cleared = len(self._rules)
        self._rules.clear()
        return cleared


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
