"""Retry with full-jitter exponential backoff, bounded by attempts and an absolute deadline."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["RetryPolicy", "retry_async"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` counts the first call; delays are uniform in [0, min(max, base * mult**n)]."""

    max_attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 2.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * self.multiplier**attempt)
        return (rng or random).uniform(0, ceiling)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    is_retryable: Callable[[BaseException], bool],
    deadline: float | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call `fn` until it succeeds, a non-retryable error, the last attempt, or the deadline."""
    attempt = 0
    while True:
        try:
            return await fn()
        except Exception as exc:
            attempt += 1
            if attempt >= policy.max_attempts or not is_retryable(exc):
                raise
            delay = policy.delay(attempt - 1, rng)
            hint = getattr(exc, "retry_after", None)
            if isinstance(hint, int | float) and hint > 0:
                delay = min(max(delay, float(hint)), policy.max_delay)
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            await sleep(delay)
