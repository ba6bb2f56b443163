"""Retry with jittered exponential backoff, bounded by attempts and an absolute deadline."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

__all__ = ["RetryPolicy", "retry_async", "retry_after_hint"]

T = TypeVar("T")

_JITTERS = ("full", "equal", "none")


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` counts the first call; attempt n (0-based) backs off up to min(max, base * mult**n).

    jitter: "full" draws uniform(0, ceiling), "equal" uniform(ceiling/2, ceiling), "none" is the ceiling.
    """

    max_attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 2.0
    multiplier: float = 2.0
    jitter: Literal["full", "equal", "none"] = "full"

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")
        if self.jitter not in _JITTERS:
            raise ValueError(f"jitter must be one of {_JITTERS}, not {self.jitter!r}")

    def ceiling(self, attempt: int) -> float:
        """Largest back-off before retry number `attempt` (0-based)."""
        try:
            raw = self.base_delay * self.multiplier**attempt
        except OverflowError:
            raw = math.inf
        return min(self.max_delay, raw)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Back-off before retry number `attempt` (0-based), jittered with `rng`."""
        ceiling = self.ceiling(attempt)
        if self.jitter == "none":
            return ceiling
        source = rng or random
        if self.jitter == "equal":
            return ceiling / 2 + source.uniform(0, ceiling / 2)
        return source.uniform(0, ceiling)


def retry_after_hint(exc: BaseException) -> float | None:
    """The server's `retry_after` hint (seconds) carried by `exc`, if it is a usable number."""
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, bool) or not isinstance(hint, int | float):
        return None
    if not math.isfinite(hint) or hint < 0:
        return None
    return float(hint)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    is_retryable: Callable[[BaseException], bool],
    deadline: float | None = None,
    try_at_deadline: bool = False,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fn` until it succeeds; re-raise on a non-retryable error, the last attempt, or the deadline.

    `deadline` is absolute on `clock` (time.monotonic by default); a back-off that would end at or
    past it is not slept: the last error is raised at once, unless `try_at_deadline`, which sleeps until the
    deadline and makes one last attempt there (retry *until* the deadline, as the saga's compensations do).
    A `retry_after` attribute on the error raises the back-off to that many seconds, still capped by
    `policy.max_delay`. `on_retry` gets (attempt that failed, 1-based; the error; the delay about to be slept).
    """
    attempt = 0
    while True:
        try:
            return await fn()
        except Exception as exc:
            attempt += 1
            if attempt >= policy.max_attempts or not is_retryable(exc):
                raise
            delay = policy.delay(attempt - 1, rng)
            hint = retry_after_hint(exc)
            if hint is not None:
                delay = min(max(delay, hint), policy.max_delay)
            if deadline is not None and clock() + delay >= deadline:
                remaining = deadline - clock()
                if not try_at_deadline or remaining <= 0:
                    raise
                delay = remaining
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            await sleep(delay)
