"""Per-tenant state read from Postgres (policies, bandit arms), reused by this process and refreshed ahead of expiry.

An entry serves for `ttl_s` seconds after the read that made it began. Used in its second half, it is read again
in the background (one read per tenant at a time), so a tenant that decides steadily never waits for Postgres on a
decision's path; an expired entry (an idle tenant) is read on the path, as is everything with `ttl_s` 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError

__all__ = ["TenantCache"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_CACHED = 100_000


class TenantCache(Generic[T]):
    """tenant id -> `load(tenant id)`'s value, at most `ttl_s` seconds old."""

    def __init__(self, load: Callable[[uuid.UUID], Awaitable[T]], ttl_s: float) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._entries: dict[uuid.UUID, tuple[float, T]] = {}
        self._refreshing: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def get(self, tenant_id: uuid.UUID) -> T:
        now = time.monotonic()
        entry = self._entries.get(tenant_id)
        if entry is not None:
            age = now - entry[0]
            if age < self._ttl_s:
                if age >= self._ttl_s / 2 and tenant_id not in self._refreshing:
                    self._refresh_soon(tenant_id)
                return entry[1]
        value = await self._load(tenant_id)
        self._remember(tenant_id, now, value)
        return value

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop the tenant's entry and any read of it in flight (its state just changed in this process)."""
        self._entries.pop(tenant_id, None)
        task = self._refreshing.pop(tenant_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop the background reads (at shutdown)."""
        tasks = list(self._refreshing.values())
        self._refreshing.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _refresh_soon(self, tenant_id: uuid.UUID) -> None:
        task = asyncio.ensure_future(self._refresh(tenant_id))
        self._refreshing[tenant_id] = task
        task.add_done_callback(lambda done: self._refreshed(tenant_id, done))

    async def _refresh(self, tenant_id: uuid.UUID) -> None:
        started = time.monotonic()
        try:
            value = await self._load(tenant_id)
        except (SQLAlchemyError, OSError) as exc:
            # The entry serves until it expires; then a decision reads (and handles the failure) itself.
            log.warning("tenant state not refreshed", extra={"tenant_id": str(tenant_id), "error": repr(exc)})
            return
        self._remember(tenant_id, started, value)

    def _refreshed(self, tenant_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._refreshing.get(tenant_id) is task:
            del self._refreshing[tenant_id]

    def _remember(self, tenant_id: uuid.UUID, read_at: float, value: T) -> None:
        if self._ttl_s <= 0:
            return
        if len(self._entries) >= _MAX_CACHED and tenant_id not in self._entries:
            self._entries.clear()
        self._entries[tenant_id] = (read_at, value)
