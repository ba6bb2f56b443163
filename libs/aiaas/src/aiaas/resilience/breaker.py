"""Circuit breaker per key (e.g. per upstream deployment): closed -> open -> half-open -> closed.

Counting rule: *consecutive* failures. `failure_threshold` failures in a row open
the breaker (any success resets the count), so a slow trickle of errors among
successes never opens it. While open every call is refused. Once
`cooldown_seconds` have passed, the next `allow()` moves it to half-open and
admits up to `half_open_max_probes` calls; the first probe success closes it, a
probe failure re-opens it with a fresh cool-down. A probe that never reports
(its caller was cancelled without `release()`) is presumed lost after another
`cooldown_seconds`, and new probes are admitted, so a breaker can't stick half-open.

Every method is synchronous, so under asyncio (one thread) no locks are needed:
the probe count is updated in the same step that admits a probe.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["BreakerState", "BreakerConfig", "BreakerRegistry", "BreakerOpen"]


class BreakerState(enum.Enum):
    """Breaker state; `value` is also the Prometheus gauge reading."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True)
class BreakerConfig:
    """Open after `failure_threshold` consecutive failures; probe again after `cooldown_seconds`."""

    failure_threshold: int = 5
    cooldown_seconds: float = 10.0
    half_open_max_probes: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.half_open_max_probes < 1 or self.cooldown_seconds < 0:
            raise ValueError("failure_threshold and half_open_max_probes must be >= 1, cooldown >= 0")


class BreakerOpen(Exception):
    """Raised by `BreakerRegistry.guard` when the breaker for `key` refuses the call."""

    def __init__(self, key: str, retry_after: float) -> None:
        super().__init__(f"circuit breaker open for {key!r}")
        self.key = key
        self.retry_after = retry_after


@dataclass
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    changed_at: float = 0.0
    probes: int = 0


StateChange = Callable[[str, BreakerState, BreakerState], None]


class BreakerRegistry:
    """Breakers by key, created closed on first use."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateChange | None = None,
    ) -> None:
        self._config = config or BreakerConfig()
        self._clock = clock
        self._on_change = on_state_change
        self._breakers: dict[str, _Breaker] = {}

    @property
    def config(self) -> BreakerConfig:
        return self._config

    def allow(self, key: str) -> bool:
        """May a call go to `key` now? In half-open this takes one of the probe slots."""
        breaker = self._get(key)
        now = self._clock()
        cooldown = self._config.cooldown_seconds
        if breaker.state is BreakerState.OPEN:
            if now - breaker.changed_at < cooldown:
                return False
            self._move(key, breaker, BreakerState.HALF_OPEN)
        if breaker.state is BreakerState.HALF_OPEN:
            if breaker.probes >= self._config.half_open_max_probes:
                if now - breaker.changed_at < cooldown:
                    return False
                # The admitted probes never reported: presume them lost and probe afresh.
                breaker.probes = 0
                breaker.changed_at = now
            breaker.probes += 1
        return True

    def record_success(self, key: str) -> None:
        """A call to `key` succeeded: reset the failure count; a half-open probe closes the breaker."""
        breaker = self._get(key)
        if breaker.state is BreakerState.OPEN:
            # A straggler admitted before the breaker opened: not evidence enough to cut the cool-down.
            return
        breaker.failures = 0
        self._move(key, breaker, BreakerState.CLOSED)

    def record_failure(self, key: str) -> None:
        """A call to `key` failed: count it; a half-open probe failure re-opens with a fresh cool-down."""
        breaker = self._get(key)
        if breaker.state is BreakerState.HALF_OPEN:
            self._move(key, breaker, BreakerState.OPEN)
            return
        if breaker.state is BreakerState.OPEN:
            return
        breaker.failures += 1
        if breaker.failures >= self._config.failure_threshold:
            self._move(key, breaker, BreakerState.OPEN)

    def release(self, key: str) -> None:
        """Give back a probe slot taken by `allow()` whose call ended without a verdict (cancelled)."""
        breaker = self._get(key)
        if breaker.state is BreakerState.HALF_OPEN and breaker.probes > 0:
            breaker.probes -= 1

    def retry_in(self, key: str) -> float:
        """Seconds until `key` may admit a call again (0 when it would now)."""
        breaker = self._breakers.get(key)
        if breaker is None or breaker.state is BreakerState.CLOSED:
            return 0.0
        if breaker.state is BreakerState.HALF_OPEN and breaker.probes < self._config.half_open_max_probes:
            return 0.0
        return max(0.0, breaker.changed_at + self._config.cooldown_seconds - self._clock())

    def state(self, key: str) -> BreakerState:
        """Current state of `key` (it does not advance open -> half-open; `allow` does)."""
        breaker = self._breakers.get(key)
        return BreakerState.CLOSED if breaker is None else breaker.state

    def snapshot(self) -> dict[str, BreakerState]:
        """State of every key seen so far."""
        return {key: breaker.state for key, breaker in self._breakers.items()}

    @asynccontextmanager
    async def guard(
        self, key: str, *, is_failure: Callable[[BaseException], bool] = lambda _exc: True
    ) -> AsyncIterator[None]:
        """Run the block under the breaker: raises `BreakerOpen` if refused, records the outcome.

        An exception for which `is_failure` is false (say, the upstream rejected a bad request)
        means the upstream answered, so it counts as a success; cancellation releases the slot.
        """
        if not self.allow(key):
            raise BreakerOpen(key, self.retry_in(key))
        try:
            yield
        except asyncio.CancelledError:
            self.release(key)
            raise
        except Exception as exc:
            if is_failure(exc):
                self.record_failure(key)
            else:
                self.record_success(key)
            raise
        self.record_success(key)

    def _get(self, key: str) -> _Breaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = _Breaker(changed_at=self._clock())
        return breaker

    def _move(self, key: str, breaker: _Breaker, new: BreakerState) -> None:
        old = breaker.state
        if old is new:
            return
        breaker.state = new
        breaker.changed_at = self._clock()
        breaker.probes = 0
        if new is BreakerState.CLOSED:
            breaker.failures = 0
        if self._on_change is not None:
            self._on_change(key, old, new)
