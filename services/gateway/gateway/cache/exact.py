"""The exact tier in Redis: `<prefix>:<tenant>:<sha256>` -> the entry (its id and answer), expiring with its TTL.

Keys are namespaced by tenant (and the digest covers the tenant too), so one tenant's key can never name
another's entry. Every call is bounded by `timeout_s`; a slow or absent Redis is the caller's miss.

Links: a request answered by a semantic hit gets its own exact key for that entry (`link`), so its repeats
are exact hits. The entry's key keeps the set of its links (`<key>:links`); a link lives no longer than the
entry's key, and deleting an entry's key deletes its links (both in one script each, so a link can never be
made for an entry already deleted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import redis.asyncio as redis_asyncio
from redis.commands.core import AsyncScript

from gateway.cache.schemas import CachedAnswer

__all__ = ["ExactTier"]

# KEYS: the entry's key, its links set, the new link. ARGV: the link's value. Only while the entry's key lives.
_LINK = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ttl)
redis.call('SADD', KEYS[2], KEYS[3])
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""
# KEYS: entries' keys. Each goes with its links and their set.
_DELETE = """
local deleted = 0
for _, key in ipairs(KEYS) do
    local links = key .. ':links'
    for _, link in ipairs(redis.call('SMEMBERS', links)) do
        deleted = deleted + redis.call('DEL', link)
    end
    deleted = deleted + redis.call('DEL', key, links)
end
return deleted
"""


class ExactTier:
    def __init__(self, redis: redis_asyncio.Redis, *, prefix: str, timeout_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout_s = timeout_s
        self._link: AsyncScript = redis.register_script(_LINK)
        self._delete: AsyncScript = redis.register_script(_DELETE)

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
        async with asyncio.timeout(self._timeout_s):
            await self._redis.set(self.key(tenant, digest), _value(entry_id, answer), ex=ttl_s)

    async def link(self, tenant: str, entry_digest: str, digest: str, entry_id: str, answer: CachedAnswer) -> bool:
        """Make `digest` an exact key of the entry stored under `entry_digest`, for as long as that one lives."""
        entry_key = self.key(tenant, entry_digest)
        keys = [entry_key, f"{entry_key}:links", self.key(tenant, digest)]
        async with asyncio.timeout(self._timeout_s):
            return bool(await self._link(keys=keys, args=[_value(entry_id, answer)]))

    async def delete(self, tenant: str, digests: Sequence[str]) -> None:
        """Delete these entries' keys and their links."""
        if not digests:
            return
        async with asyncio.timeout(self._timeout_s):
            await self._delete(keys=[self.key(tenant, digest) for digest in digests])


def _value(entry_id: str, answer: CachedAnswer) -> bytes:
    return orjson.dumps({"id": entry_id, "answer": answer.to_json()})
