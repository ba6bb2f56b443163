"""Plan quota (aiaas.quota) at the gateway, against a real Redis: billing's state in, 429s and usage out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
import redis.asyncio as redis_asyncio

from aiaas import quota
from aiaas.quota import QuotaState, quota_key
from gateway.limits.service import Limits, Settlement

BODY = {"model": "chat", "messages": [{"role": "user", "content": "count my tokens"}], "max_tokens": 8}
STREAM_BODY = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
UNLIMITED = quota.UNLIMITED


def _state(
    *,
    token_limit: int = UNLIMITED,
    request_limit: int = UNLIMITED,
    used_tokens: int = 0,
    used_requests: int = 0,
    credit_minor: int = 0,
    limit_name: str = "plan 'free'",
    period_start: str = "2026-11-01T00:00:00+00:00",
) -> QuotaState:
    return QuotaState(period_start, token_limit, request_limit, used_tokens, used_requests, credit_minor, limit_name)


async def _used(client: redis_asyncio.Redis, tenant_id: object) -> tuple[int, int]:
    tokens, requests = await client.hmget(quota_key(str(tenant_id)), "used_tokens", "used_requests")
    return int(tokens or 0), int(requests or 0)


async def _wait_used(client: redis_asyncio.Redis, tenant_id: object, tokens: int, requests: int) -> tuple[int, int]:
    """Admission reserves at once, the correction lands a few ms after the response (batched): wait for it."""
    used = await _used(client, tenant_id)
    for _ in range(300):
        if used == (tokens, requests):
            return used
        await asyncio.sleep(0.01)
        used = await _used(client, tenant_id)
    raise AssertionError(f"quota usage stayed at {used}, expected {(tokens, requests)}")


async def _post(http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
    """One request; a 200 stream is read to the end. Returns (status, usage or error body)."""
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
        if resp.status != 200 or not body.get("stream"):
            payload = await resp.json(content_type=None)
            return resp.status, payload.get("usage") or payload
        usage: dict = {}
        async for line in resp.content:
            if line.startswith(b"data: {") and b'"usage":{' in line:
                usage = orjson.loads(line[6:])["usage"]
        return resp.status, usage


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- the gateway's script agrees with billing's contract ------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        _state(token_limit=100, used_tokens=99),
        _state(token_limit=100, used_tokens=100),
        _state(token_limit=100, used_tokens=150, credit_minor=1),
        _state(token_limit=100, used_tokens=150, credit_minor=0),
        _state(request_limit=3, used_requests=2),
        _state(request_limit=3, used_requests=3, credit_minor=500),
        _state(token_limit=0, request_limit=0, limit_name=""),
        _state(),
    ],
)
async def test_acquire_agrees_with_quota_check(limiter, redis_client, state):
    tenant = f"t-{uuid.uuid4().hex}"
    await quota.reconcile(redis_client, tenant, state)
    expected = await quota.check(redis_client, tenant)
    decision = await limiter.acquire(
        tenant_id=tenant,
        key_id="k",
        tenant_limits=Limits(),
        key_limits=Limits(),
        estimated_tokens=10,
        quota_key=quota_key(tenant),
    )
    await redis_client.delete(quota_key(tenant))
    assert decision.allowed == expected.allowed
    assert decision.quota_exceeded == expected.exceeded
    assert decision.quota_message == expected.message


async def test_missing_hash_means_no_quota_and_settle_does_not_create_it(limiter, redis_client):
    tenant = f"t-{uuid.uuid4().hex}"
    decision = await limiter.acquire(
        tenant_id=tenant,
        key_id="k",
        tenant_limits=Limits(),
        key_limits=Limits(),
        estimated_tokens=10,
        quota_key=quota_key(tenant),
    )
    assert decision.allowed and decision.quota_exceeded is None and decision.headers() == {}
    await limiter.settle(
        Settlement(
            tenant_id=tenant,
            key_id="k",
            tenant_limits=Limits(),
            key_limits=Limits(),
            estimated_tokens=10,
            actual_tokens=7,
            quota_key=quota_key(tenant),
        )
    )
    assert not await redis_client.exists(quota_key(tenant))


async def test_settle_adds_usage_like_add_usage(limiter, redis_client):
    ours, theirs = f"t-{uuid.uuid4().hex}", f"t-{uuid.uuid4().hex}"
    for tenant in (ours, theirs):
        await quota.reconcile(redis_client, tenant, _state(token_limit=1000, used_tokens=5, used_requests=1))
    limits = Limits(tokens_per_minute=10_000)
    limiter.settle_soon(
        Settlement(
            tenant_id=ours,
            key_id="k",
            tenant_limits=limits,
            key_limits=Limits(),
            estimated_tokens=40,
            actual_tokens=33,
            quota_key=quota_key(ours),
        )
    )
    await limiter.drain()
    await quota.add_usage(redis_client, theirs, 33)
    assert await _used(redis_client, ours) == await _used(redis_client, theirs) == (38, 2)
    await redis_client.delete(quota_key(ours), quota_key(theirs))


async def test_refused_by_quota_debits_no_bucket(limiter, redis_client):
    tenant = f"t-{uuid.uuid4().hex}"
    await quota.reconcile(redis_client, tenant, _state(request_limit=0))
    limits = Limits(requests_per_minute=5, tokens_per_minute=1000)
    decision = await limiter.acquire(
        tenant_id=tenant,
        key_id="k",
        tenant_limits=limits,
        key_limits=limits,
        estimated_tokens=100,
        quota_key=quota_key(tenant),
    )
    assert not decision.allowed and decision.blocked_by == "quota" and decision.quota_exceeded == "requests"
    assert decision.headers()["x-ratelimit-remaining-requests"] == "5"
    assert "Retry-After" not in decision.headers()
    assert not await redis_client.exists(*limiter.bucket_keys(tenant, "k"))
    await redis_client.delete(quota_key(tenant))


# -- over HTTP --------------------------------------------------------------------------------------


async def test_token_quota_blocks_once_used_up(http, gateway_url, make_tenant, redis_client):
    tenant = await make_tenant()
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=1, limit_name="plan 'free': 1 token"))
    status, usage = await _post(http, gateway_url, tenant.auth, BODY)
    assert status == 200
    used = await _wait_used(redis_client, tenant.id, usage["total_tokens"], 1)

    status, body = await _post(http, gateway_url, tenant.auth, BODY)
    assert status == 429
    assert body["error"]["type"] == "quota_exceeded"
    assert body["error"]["code"] == "quota_exceeded"
    assert body["error"]["message"] == quota.quota_message("tokens", "plan 'free': 1 token")
    assert "token quota" in body["error"]["message"] and "plan 'free': 1 token" in body["error"]["message"]
    assert await _used(redis_client, tenant.id) == used, "a refused request is not counted"


async def test_request_quota_admits_exactly_the_limit(http, gateway_url, make_tenant, redis_client):
    tenant = await make_tenant()
    await quota.reconcile(redis_client, tenant.id, _state(request_limit=3, limit_name="plan 'trial'"))
    # Admission reserves the request at once, so even concurrent requests get exactly the limit.
    results = await asyncio.gather(*(_post(http, gateway_url, tenant.auth, BODY) for _ in range(5)))
    assert sorted(status for status, _ in results) == [200, 200, 200, 429, 429]
    served = sum(usage["total_tokens"] for status, usage in results if status == 200)
    await _wait_used(redis_client, tenant.id, served, 3)
    status, body = await _post(http, gateway_url, tenant.auth, BODY)
    assert body["error"]["message"] == quota.quota_message("requests", "plan 'trial'")


async def test_credit_lets_requests_past_the_token_limit(http, gateway_url, make_tenant, redis_client):
    tenant = await make_tenant()
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=10, used_tokens=50, credit_minor=100))
    assert (await _post(http, gateway_url, tenant.auth, BODY))[0] == 200
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=10, used_tokens=50, credit_minor=0))
    assert (await _post(http, gateway_url, tenant.auth, BODY))[0] == 429


async def test_raising_the_limit_lifts_the_block_on_the_next_request(http, gateway_url, make_tenant, redis_client):
    tenant = await make_tenant()
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=100, used_tokens=100))
    assert (await _post(http, gateway_url, tenant.auth, BODY))[0] == 429
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=1_000_000, used_tokens=100))
    assert (await _post(http, gateway_url, tenant.auth, BODY))[0] == 200


async def test_streaming_requests_count_and_are_refused(http, gateway_url, make_tenant, redis_client):
    tenant = await make_tenant()
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=1))
    status, usage = await _post(http, gateway_url, tenant.auth, STREAM_BODY)
    assert status == 200 and usage["total_tokens"] > 0
    await _wait_used(redis_client, tenant.id, usage["total_tokens"], 1)
    status, body = await _post(http, gateway_url, tenant.auth, STREAM_BODY)
    assert status == 429 and body["error"]["code"] == "quota_exceeded"


async def _until_refused(
    http: aiohttp.ClientSession,
    urls: list[str],
    headers: dict[str, str],
    workers: int,
    redis_client: redis_asyncio.Redis,
    tenant_id: object,
    body: dict = BODY,
) -> list[dict]:
    """`workers` concurrent loops posting until each gets a 429, then one client alone until refused.

    Admission reserves each request's estimate, so a concurrent burst may be refused a little before the
    limit while reservations are outstanding; once they are settled, the lone client uses what is left.
    Returns the usage of every 200.
    """
    served: list[dict] = []

    async def loop(i: int) -> None:
        while True:
            status, result = await _post(http, urls[i % len(urls)], headers, body)
            if status == 429:
                assert result["error"]["code"] == "quota_exceeded", result
                return
            assert status == 200, result
            served.append(result)

    await asyncio.gather(*(loop(i) for i in range(workers)))
    while True:
        await _wait_used(redis_client, tenant_id, sum(u["total_tokens"] for u in served), len(served))
        status, result = await _post(http, urls[0], headers, body)
        if status == 429:
            assert result["error"]["code"] == "quota_exceeded", result
            return served
        assert status == 200, result
        served.append(result)


async def test_concurrent_requests_overshoot_by_at_most_what_is_in_flight(http, gateway_url, make_tenant, redis_client):
    tenant = await make_tenant()
    limit, workers = 2_000, 50
    await quota.reconcile(redis_client, tenant.id, _state(token_limit=limit))
    served = await _until_refused(http, [gateway_url], tenant.auth, workers, redis_client, tenant.id)
    used_tokens, used_requests = await _used(redis_client, tenant.id)
    largest = max(u["total_tokens"] for u in served)
    overshoot = used_tokens - limit
    print(
        f"\nquota {limit} tokens, {workers} concurrent: {len(served)} served, used {used_tokens}, overshoot "
        f"{overshoot} tokens = {overshoot / largest:.1f} requests of <= {largest} (bound {workers} in flight)"
    )
    assert used_requests == len(served)
    assert used_tokens == sum(u["total_tokens"] for u in served), "every served request counted once"
    assert limit <= used_tokens <= limit + workers * largest


async def test_two_gateway_processes_share_the_quota(http, gateway_url, second_gateway, make_tenant, redis_client):
    tenant = await make_tenant()
    await quota.reconcile(redis_client, tenant.id, _state(request_limit=6))
    results = await asyncio.gather(
        *(
            _post(http, (gateway_url, second_gateway)[i % 2], tenant.auth, STREAM_BODY if i % 3 else BODY)
            for i in range(10)
        )
    )
    assert sorted(status for status, _ in results) == [200] * 6 + [429] * 4

    shared = await make_tenant()
    limit, workers = 1_000, 20
    await quota.reconcile(redis_client, shared.id, _state(token_limit=limit))
    served = await _until_refused(http, [gateway_url, second_gateway], shared.auth, workers, redis_client, shared.id)
    used_tokens, used_requests = await _used(redis_client, shared.id)
    largest = max(u["total_tokens"] for u in served)
    overshoot = used_tokens - limit
    print(
        f"\ntwo gateways, quota {limit} tokens, {workers} concurrent: used {used_tokens}, overshoot "
        f"{overshoot} tokens = {overshoot / largest:.1f} requests of <= {largest}"
    )
    assert used_requests == len(served)
    assert used_tokens == sum(u["total_tokens"] for u in served)
    assert limit <= used_tokens <= limit + workers * largest
