"""Per-tenant concurrent connection limit shared by all instances (Redis sorted set with expiring entries).

Each open socket is a member scored with its expiry (Redis server time + TTL); every
instance refreshes its own members every TTL/3, so the members of a crashed instance
expire and stop counting without anyone cleaning up after it.
"""

from __future__ import annotations

import uuid

import redis.asyncio as redis_asyncio

__all__ = ["TenantConnectionLimit"]

_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[1]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""

_REFRESH = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
for i = 1, #ARGV - 1 do redis.call('ZADD', KEYS[1], 'XX', t + tonumber(ARGV[#ARGV]), ARGV[i]) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[#ARGV])) + 1)
return 1
"""


def _key(tenant_id: uuid.UUID) -> str:
    return f"rt:tenant:{tenant_id}:conns"


class TenantConnectionLimit:
    """Each tenant's open sockets across instances (Redis; the sorted set `rt:tenant:<id>:conns`)."""

    def __init__(self, redis: redis_asyncio.Redis, *, limit: int, ttl_s: float) -> None:
        self._redis = redis
        self.limit = limit
        self.ttl_s = ttl_s
        self._acquire = redis.register_script(_ACQUIRE)
        self._refresh = redis.register_script(_REFRESH)

    async def acquire(self, tenant_id: uuid.UUID, connection_id: str) -> bool:
        """Count `connection_id` against the tenant; False when the tenant is at its limit."""
        return bool(await self._acquire(keys=[_key(tenant_id)], args=[self.ttl_s, self.limit, connection_id]))

    async def refresh(self, tenant_id: uuid.UUID, connection_ids: list[str]) -> None:
        if connection_ids:
            await self._refresh(keys=[_key(tenant_id)], args=[*connection_ids, self.ttl_s])

    async def release(self, tenant_id: uuid.UUID, connection_id: str) -> None:
        await self._redis.zrem(_key(tenant_id), connection_id)
