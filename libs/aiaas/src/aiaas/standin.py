"""What the wire stand-ins (provider_sim, stripe_sim) share: their settings base, how they run, and the
ordered list of injected-fault rules.

A fault rule is added through a stand-in's `/_sim/faults` control route, matched against each request in the
order rules were added, and used up after `remaining` matches (`None` = until cleared).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from aiaas.serve import run_service
from aiaas.settings import ServiceSettings

__all__ = ["CountedRule", "FaultRules", "StandinSettings", "run_standin"]


class StandinSettings(ServiceSettings):
    """Where a stand-in listens and whether uvicorn logs each request (a subclass sets its env prefix and port)."""

    host: str = "127.0.0.1"
    port: int
    access_log: bool = False


def run_standin(prog: str, factory: str, settings: StandinSettings, argv: Sequence[str] | None = None) -> int:
    """A stand-in's `__main__`: `--host/--port/--log-level/--access-log`, defaults from `settings`."""
    return run_service(
        prog,
        factory,
        host=settings.host,
        port=settings.port,
        argv=argv,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
    )


class CountedRule(Protocol):
    """A rule with an id and how many more requests it applies to (None = until cleared)."""

    id: int
    remaining: int | None


R = TypeVar("R", bound=CountedRule)


class FaultRules(Generic[R]):
    """Ordered rules; the first rule matching a request is consumed once."""

    def __init__(self) -> None:
        self._rules: list[R] = []
        self._ids = itertools.count(1)

    def add(self, make: Callable[[int], R]) -> R:
        """Append the rule `make(next id)` builds and return it."""
        rule = make(next(self._ids))
        self._rules.append(rule)
        return rule

    def take(self, matches: Callable[[R], bool]) -> R | None:
        """The first rule that `matches`, one use consumed (dropped when none is left); None if no rule matches."""
        for rule in self._rules:
            if not matches(rule):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
            return rule
        return None

    def clear(self, where: Callable[[R], bool] | None = None) -> int:
        """Remove every rule (or those `where` selects); return how many were removed."""
        before = len(self._rules)
        self._rules = [] if where is None else [rule for rule in self._rules if not where(rule)]
        return before - len(self._rules)

    def rules(self) -> list[R]:
        """The active rules, in matching order."""
        return list(self._rules)
