"""The exact tier in Redis: `<prefix>:<tenant>:<sha256>` -> the entry (its id and answer), expiring with its TTL.

Keys are namespaced by tenant (and the digest covers the tenant too), so one tenant's key can never name
another's entry. Every call is bounded by `timeout_s`; a slow or absent Redis is the caller's miss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import redis.asyncio as redis_asyncio

from gateway.cache.schemas import CachedAnswer

__all__ = ["ExactTier"]


class ExactTier:
    def __init__(self, redis: redis_asyncio.Redis, *, prefix: str, timeout_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout_s = timeout_s

    def key(self, tenant: str, digest: str) -> str:
        return f"{self._prefix}:{tenant}:{digest}"

    async def get(self, tenant: str, digest: str) -> tuple[str, CachedAnswer] | None:
        """The entry's id and answer, or None (absent, expired, or unreadable)."""
        async with asyncio.timeout(self._timeout_s):
            raw = await self._redis.get(self.key(tenant, digest))
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            return str(data["id"]), CachedAnswer.from_json(data["answer"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    async def put(self, tenant: str, digest: str, entry_id: str, answer: CachedAnswer, ttl_s: int) -> None:
        value = orjson.dumps({"id": entry_id, "answer": answer.to_json()})
        async with asyncio.timeout(self._timeout_s):
            await self._redis.set(self.key(tenant, digest), value, ex=ttl_s)

    async def delete(self, tenant: str, digests: Sequence[str]) -> None:
        if not digests:
            return
        async with asyncio.timeout(self._timeout_s):
            await self._redis.delete(*(self.key(tenant, digest) for digest in digests))
