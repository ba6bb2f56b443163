"""router/tenant_cache.py: an entry serves for its ttl, is re-read in the background in its second half, is read on
the path once expired; `forget` drops a read in flight; ttl 0 reads every time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from router.tenant_cache import TenantCache

TTL_S = 0.4


class Source:
    """What Postgres would hold per tenant, and the reads made of it."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads = 0
        self.fail = False
        self.delay_s = 0.0

    async def load(self, tenant_id: uuid.UUID) -> str:
        self.reads += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise OSError("postgres unreachable")
        return f"{self.value}:{tenant_id.hex[:4]}"


async def test_a_fresh_entry_is_served_without_a_read() -> None:
    source, tenant = Source(), uuid.uuid4()
    cache = TenantCache(source.load, TTL_S)
    first = await cache.get(tenant)
    source.value = "v2"
    assert await cache.get(tenant) == first == f"v1:{tenant.hex[:4]}"
    assert source.reads == 1
    await cache.close()


async def test_an_entry_in_its_second_half_is_served_and_refreshed_in_the_background() -> None:
    source, tenant = Source(), uuid.uuid4()
    cache = TenantCache(source.load, TTL_S)
    await cache.get(tenant)
    source.value = "v2"
    await asyncio.sleep(TTL_S * 0.6)
    assert await cache.get(tenant) == f"v1:{tenant.hex[:4]}"  # not waited for
    assert await cache.get(tenant) == f"v1:{tenant.hex[:4]}"  # one background read at a time
    await asyncio.sleep(0.05)
    assert source.reads == 2
    assert await cache.get(tenant) == f"v2:{tenant.hex[:4]}"
    await cache.close()


async def test_an_expired_entry_is_read_on_the_path() -> None:
    source, tenant = Source(), uuid.uuid4()
    cache = TenantCache(source.load, TTL_S)
    await cache.get(tenant)
    source.value = "v2"
    await asyncio.sleep(TTL_S * 1.1)
    assert await cache.get(tenant) == f"v2:{tenant.hex[:4]}"
    assert source.reads == 2
    await cache.close()


async def test_forget_drops_the_entry_and_a_read_in_flight() -> None:
    source, tenant = Source(), uuid.uuid4()
    cache = TenantCache(source.load, TTL_S)
    await cache.get(tenant)
    await asyncio.sleep(TTL_S * 0.6)
    source.delay_s = 0.1
    await cache.get(tenant)  # starts a background read of "v1"
    source.value = "v2"
    cache.forget(tenant)  # the tenant's state changed here: the read in flight must not come back
    source.delay_s = 0.0
    await asyncio.sleep(0.15)
    assert await cache.get(tenant) == f"v2:{tenant.hex[:4]}"
    await cache.close()


async def test_a_failed_refresh_keeps_serving_until_expiry() -> None:
    source, tenant = Source(), uuid.uuid4()
    cache = TenantCache(source.load, TTL_S)
    await cache.get(tenant)
    await asyncio.sleep(TTL_S * 0.6)
    source.fail = True
    assert await cache.get(tenant) == f"v1:{tenant.hex[:4]}"
    await asyncio.sleep(0.05)
    assert await cache.get(tenant) == f"v1:{tenant.hex[:4]}"
    await asyncio.sleep(TTL_S * 0.5)
    with pytest.raises(OSError, match="unreachable"):  # expired: read on the path, its failure the caller's
        await cache.get(tenant)
    await cache.close()


async def test_ttl_zero_reads_every_time() -> None:
    source, tenant = Source(), uuid.uuid4()
    cache = TenantCache(source.load, 0)
    await cache.get(tenant)
    source.value = "v2"
    assert await cache.get(tenant) == f"v2:{tenant.hex[:4]}"
    assert source.reads == 2
    await cache.close()
