"""Circuit breaker per key (e.g. per upstream deployment): closed -> open -> half-open -> closed.

Opens after `failure_threshold` consecutive failures; while open every call is
refused; after `cooldown_seconds` it lets `half_open_max_probes` calls through;
a probe's success closes it, a failure re-opens it with a fresh cool-down.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BreakerState", "BreakerConfig", "BreakerRegistry"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_seconds: float = 10.0
    half_open_max_probes: int = 1


@dataclass
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probes: int = 0


class BreakerRegistry:
    """Breakers by key; asyncio-safe because every method is synchronous."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: Callable[[str, BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self._config = config or BreakerConfig()
        self._clock = clock
        self._on_change = on_state_change
        self._breakers: dict[str, _Breaker] = {}

    def _get(self, key: str) -> _Breaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = _Breaker()
        return breaker

    def _move(self, key: str, breaker: _Breaker, new: BreakerState) -> None:
        old = breaker.state
        if old is new:
            return
        breaker.state = new
        if new is BreakerState.OPEN:
            breaker.opened_at = self._clock()
        if new is not BreakerState.CLOSED:
            breaker.probes = 0
        if self._on_change is not None:
            self._on_change(key, old, new)

    def allow(self, key: str) -> bool:
        """May a call go to `key` now? Counts half-open probes."""
        breaker = self._get(key)
        if breaker.state is BreakerState.OPEN:
            if self._clock() - breaker.opened_at < self._config.cooldown_seconds:
                return False
            self._move(key, breaker, BreakerState.HALF_OPEN)
        if breaker.state is BreakerState.HALF_OPEN:
            if breaker.probes >= self._config.half_open_max_probes:
                return False
            breaker.probes += 1
        return True

    def record_success(self, key: str) -> None:
        breaker = self._get(key)
        breaker.failures = 0
        self._move(key, breaker, BreakerState.CLOSED)

    def record_failure(self, key: str) -> None:
        breaker = self._get(key)
        if breaker.state is BreakerState.HALF_OPEN:
            self._move(key, breaker, BreakerState.OPEN)
            return
        breaker.failures += 1
        if breaker.state is BreakerState.CLOSED and breaker.failures >= self._config.failure_threshold:
            self._move(key, breaker, BreakerState.OPEN)

    def state(self, key: str) -> BreakerState:
        return self._get(key).state

    def snapshot(self) -> dict[str, BreakerState]:
        return {key: breaker.state for key, breaker in self._breakers.items()}
