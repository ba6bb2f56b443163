"""The short in-process cache behind every bearer-key resolver (tenant API keys, platform-admin keys).

A key hash maps to who it belongs to, or None for nobody (unknown keys are cached too, so a flood
of bad keys costs one lookup each per TTL). Concurrent misses for one hash share a single lookup:
no stampede on the database when a hot key expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["KeyCache"]

T = TypeVar("T")


class KeyCache(Generic[T]):
    """Key hash -> `lookup(key_hash)`'s answer, kept for `ttl_s` seconds (at most `max_entries`)."""

    def __init__(
        self, lookup: Callable[[str], Awaitable[T | None]], *, ttl_s: float = 5.0, max_entries: int = 100_000
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: dict[str, tuple[float, T | None]] = {}
        self._lookups: dict[str, asyncio.Task[T | None]] = {}

    def forget(self, key_hash: str | None = None) -> None:
        """Drop one cached key (after a revoke in this process) or all of them."""
        if key_hash is None:
            self._entries.clear()
        else:
            self._entries.pop(key_hash, None)

    async def get(self, key_hash: str) -> T | None:
        hit = self._entries.get(key_hash)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        lookup = self._lookups.get(key_hash)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup_and_keep(key_hash))
            self._lookups[key_hash] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(key_hash, None))
        # Shielded: one caller giving up must not cancel the lookup the others wait for.
        return await asyncio.shield(lookup)

    async def _lookup_and_keep(self, key_hash: str) -> T | None:
        found = await self._lookup(key_hash)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self._ttl, found)
        return found
