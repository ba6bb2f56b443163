"""Waiting for eventually-true conditions (a consumer caught up, a row written) without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


async def wait_for(predicate: Callable[[], Awaitable[T]], timeout_s: float = 60.0, interval_s: float = 0.1) -> T:
    """Poll an async predicate until it returns a truthy value; that value."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s (last value {value!r})")
        await asyncio.sleep(interval_s)
