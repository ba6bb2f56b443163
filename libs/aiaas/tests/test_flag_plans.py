"""FlagClient applies per-plan overrides from the `tenant_plans` bucket, on a real NATS KV.

Every test uses its own flags and plans buckets (unique names) and deletes them, so parallel runs and
the services' real buckets on the shared NATS are never touched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from aiaas.flags import Flag, FlagClient, TenantPlanPublisher
from aiaas_testing import NatsServer


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _doc(flag: Flag) -> bytes:
    return orjson.dumps(flag.to_json())


async def _until(predicate, timeout_s: float = 2.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout_s:
            raise AssertionError(f"condition not met in {timeout_s}s")
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


CAP = Flag(key="max_tokens_cap", type="integer", default=512, version=1, plans={"pro": 4096})
STREAMING = Flag(key="streaming_enabled", type="boolean", default=False, version=1, plans={"pro": True})


@pytest.fixture
async def buckets(nats_client: NatsClient) -> AsyncIterator[tuple[str, str, KeyValue, KeyValue]]:
    """(flags bucket, plans bucket, their KV handles), with the plan-overridden flags published."""
    js = nats_client.jetstream()
    flags_name, plans_name = _name("flags_test"), _name("plans_test")
    flags_kv = await js.create_key_value(bucket=flags_name, history=5)
    plans_kv = await js.create_key_value(bucket=plans_name, history=1)
    await flags_kv.put(CAP.key, _doc(CAP))
    await flags_kv.put(STREAMING.key, _doc(STREAMING))
    yield flags_name, plans_name, flags_kv, plans_kv
    for name in (flags_name, plans_name):
        await js.delete_key_value(name)


async def test_plan_override_follows_the_tenants_plan_live(buckets, infra_urls) -> None:
    flags_name, plans_name, flags_kv, plans_kv = buckets
    pro, free, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await plans_kv.put(str(pro), b"pro")
    await plans_kv.put(str(free), b"free")
    async with FlagClient(infra_urls.nats_url, bucket=flags_name, plans_bucket=plans_name) as client:
        assert client.plans_live and client.plan_of(pro) == "pro"
        # The call sites' shape: no plan argument.
        assert client.get_int("max_tokens_cap", pro, default=0) == 4096
        assert client.is_enabled("streaming_enabled", pro, default=False) is True
        assert client.get_int("max_tokens_cap", free, default=0) == 512
        assert client.is_enabled("streaming_enabled", free, default=True) is False
        assert client.get_int("max_tokens_cap", unknown, default=0) == 512
        assert client.get_int("max_tokens_cap", str(pro).upper(), default=0) == 4096  # ids are case-blind
        # An explicit plan still wins over the looked-up one.
        assert client.get_int("max_tokens_cap", pro, default=0, plan="free") == 512
        assert client.get_int("max_tokens_cap", free, default=0, plan="pro") == 4096

        # Billing moves `free` to pro: the client follows within a second, with no call-site change.
        started = time.perf_counter()
        await plans_kv.put(str(free), b"pro")
        await _until(lambda: client.get_int("max_tokens_cap", free, default=0) == 4096, 1.0)
        latency = time.perf_counter() - started
        assert latency < 1.0
        print(f"\nplan change in KV -> client applies the plan override: {latency * 1000:.1f} ms")
        assert client.is_enabled("streaming_enabled", free, default=False) is True

        # A tenant override still beats the plan override.
        pinned = Flag(
            key="max_tokens_cap", type="integer", default=512, version=2, plans={"pro": 4096}, tenants={str(pro): 100}
        )
        await flags_kv.put(pinned.key, _doc(pinned))
        await _until(lambda: client.get_int("max_tokens_cap", pro, default=0) == 100, 1.0)
        assert client.get_int("max_tokens_cap", free, default=0) == 4096

        # The entry removed (tenant gone): no plan, the default again.
        await plans_kv.delete(str(free))
        await _until(lambda: client.get_int("max_tokens_cap", free, default=0) == 512, 1.0)
        assert client.plan_of(free) is None


async def test_missing_plans_bucket_serves_defaults_then_is_picked_up(nats_client: NatsClient, infra_urls) -> None:
    """Services start before billing ever wrote a plan: defaults, no error, and the bucket is used once it exists."""
    js = nats_client.jetstream()
    flags_name, plans_name = _name("flags_test"), _name("plans_test")
    flags_kv = await js.create_key_value(bucket=flags_name, history=5)
    tenant = uuid.uuid4()
    try:
        await flags_kv.put(CAP.key, _doc(CAP))
        started = time.perf_counter()
        client = await FlagClient(infra_urls.nats_url, bucket=flags_name, plans_bucket=plans_name, retry_s=0.1).start()
        try:
            # start() does not wait out its timeout for a bucket that does not exist.
            assert time.perf_counter() - started < 1.5
            assert client.live and not client.plans_live
            assert client.get_int("max_tokens_cap", tenant, default=0) == 512
            assert client.get_int("max_tokens_cap", tenant, default=0, plan="pro") == 4096
            with pytest.raises(BucketNotFoundError):
                await js.key_value(plans_name)  # the client only reads: it never creates the bucket

            # Billing creates the bucket with its first write; the client picks it up.
            async with _publisher(infra_urls.nats_url, plans_name) as publisher:
                assert await publisher.publish({tenant: "pro"})
            await _until(lambda: client.get_int("max_tokens_cap", tenant, default=0) == 4096, 5.0)
            assert client.plans_live
        finally:
            await client.close()
    finally:
        await js.delete_key_value(flags_name)
        await _delete_if_present(nats_client, plans_name)


async def test_client_without_a_plans_bucket_configured_never_looks_up(buckets, infra_urls) -> None:
    flags_name, plans_name, _, plans_kv = buckets
    tenant = uuid.uuid4()
    await plans_kv.put(str(tenant), b"pro")
    async with FlagClient(infra_urls.nats_url, bucket=flags_name, plans_bucket=None) as client:
        assert client.plan_of(tenant) is None
        assert client.get_int("max_tokens_cap", tenant, default=0) == 512


async def test_publisher_writes_only_what_the_bucket_does_not_hold(nats_client: NatsClient, infra_urls) -> None:
    """Two publishers (billing's API and meter) on one bucket: neither rewrites what the other wrote."""
    plans_name = _name("plans_test")
    tenants = [uuid.uuid4() for _ in range(300)]  # more than one put batch
    try:
        async with (
            _publisher(infra_urls.nats_url, plans_name) as api,
            _publisher(infra_urls.nats_url, plans_name) as meter,
        ):
            kv = await nats_client.jetstream().key_value(plans_name)
            assert await api.publish({tenant: "free" for tenant in tenants})
            first = (await kv.get(str(tenants[0]))).revision
            status = await kv.status()
            assert status.values == len(tenants)

            assert await api.publish({tenant: "free" for tenant in tenants})  # same plans: no write
            await _until(lambda: meter.plan_of(tenants[-1]) == "free")
            assert await meter.publish({tenant: "free" for tenant in tenants})  # the other process: no write either
            assert (await kv.get(str(tenants[0]))).revision == first
            assert (await kv.status()).values == len(tenants)

            assert await api.publish({tenants[0]: "pro"})
            changed = await kv.get(str(tenants[0]))
            assert (changed.value, changed.revision > first) == (b"pro", True)
            await _until(lambda: meter.plan_of(tenants[0]) == "pro")
            assert await meter.publish({tenants[0]: "pro"})
            assert (await kv.get(str(tenants[0]))).revision == changed.revision
    finally:
        await _delete_if_present(nats_client, plans_name)


async def test_plans_survive_a_nats_outage_and_catch_up(tmp_path, infra_urls) -> None:
    """NATS down: the last plans keep applying; back up: the client reloads and follows new changes."""
    server = NatsServer(tmp_path / "nats").start()
    flags_name, plans_name = _name("flags_test"), _name("plans_test")
    tenant = uuid.uuid4()
    try:
        async with _publisher(server.url, plans_name) as publisher:
            setup = await nats.connect(server.url)
            flags_kv = await setup.jetstream().create_key_value(bucket=flags_name, history=5)
            await flags_kv.put(CAP.key, _doc(CAP))
            await setup.close()
            assert await publisher.publish({tenant: "pro"})
            async with FlagClient(server.url, bucket=flags_name, plans_bucket=plans_name, retry_s=0.2) as client:
                assert client.get_int("max_tokens_cap", tenant, default=0) == 4096

                server.stop()
                await _until(lambda: not client.plans_live, 5.0)
                assert client.get_int("max_tokens_cap", tenant, default=0) == 4096  # last known plan
                assert await publisher.publish({tenant: "free"}) is False  # logged, not raised

                server.start()
                await _until(lambda: client.plans_live and publisher.live, 15.0)
                assert await publisher.publish({tenant: "free"})
                await _until(lambda: client.get_int("max_tokens_cap", tenant, default=0) == 512, 1.0)
    finally:
        server.stop()


@asynccontextmanager
async def _publisher(url: str, bucket: str) -> AsyncIterator[TenantPlanPublisher]:
    """A started `TenantPlanPublisher` owning its connection (it creates the bucket), closed on exit."""
    publisher = await TenantPlanPublisher(url, bucket=bucket, retry_s=0.1).start()
    try:
        yield publisher
    finally:
        await publisher.close()


async def _delete_if_present(nats_client: NatsClient, bucket: str) -> None:
    try:
        await nats_client.jetstream().delete_key_value(bucket)
    except NotFoundError:  # never created (BucketNotFoundError is one too)
        return
