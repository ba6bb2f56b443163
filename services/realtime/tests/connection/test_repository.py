"""The per-tenant connection limit in Redis: never more members than the limit, whatever the order of events."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaas_testing import InfraUrls
from realtime.connection.repository import TenantConnectionLimit

_events = st.lists(st.tuples(st.sampled_from(["acquire", "release"]), st.integers(0, 9)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(events=_events, limit=st.integers(1, 6))
async def test_admission_matches_a_set_bounded_by_the_limit(
    infra_urls: InfraUrls, events: list[tuple[str, int]], limit: int
) -> None:
    redis = redis_asyncio.from_url(infra_urls.redis_url)
    slots = TenantConnectionLimit(redis, limit=limit, ttl_s=30.0)
    tenant_id, held = uuid.uuid4(), set[str]()
    key = f"rt:tenant:{tenant_id}:conns"
    try:
        for kind, n in events:
            conn_id = f"c{n}"
            if kind == "acquire":
                admitted = await slots.acquire(tenant_id, conn_id)
                # A socket already counted is refreshed, not counted twice; at the limit nobody gets in.
                assert admitted == (len(held) < limit)
                if admitted:
                    held.add(conn_id)
            else:
                await slots.release(tenant_id, conn_id)
                held.discard(conn_id)
            assert await redis.zcard(key) == len(held) <= limit
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_members_of_a_dead_instance_expire(infra_urls: InfraUrls) -> None:
    """Entries not refreshed within their TTL stop counting (a crashed instance frees its tenants' slots)."""
    redis = redis_asyncio.from_url(infra_urls.redis_url)
    slots = TenantConnectionLimit(redis, limit=1, ttl_s=0.2)
    tenant_id = uuid.uuid4()
    try:
        assert await slots.acquire(tenant_id, "a")
        assert not await slots.acquire(tenant_id, "b")
        await slots.refresh(tenant_id, ["a"])
        assert not await slots.acquire(tenant_id, "b")
        await asyncio.sleep(0.3)
        assert await slots.acquire(tenant_id, "b")
    finally:
        await redis.delete(f"rt:tenant:{tenant_id}:conns")
        await redis.aclose()
