"""Token-bucket limits against a real Redis: bursts, refill, token debt, sharing, concurrency, expiry."""

from __future__ import annotations

import asyncio
import math
import sys
import time
import uuid

import pytest
import redis.asyncio as redis_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaas_testing import InfraUrls, free_port
from gateway.limits.service import LimitDecision, Limits, RateLimiter, Settlement, format_reset

NO_LIMITS = Limits()


async def _acquire(
    limiter: RateLimiter,
    *,
    tenant: Limits = NO_LIMITS,
    key: Limits = NO_LIMITS,
    tokens: int = 0,
    tenant_id: str = "t1",
    key_id: str = "k1",
) -> LimitDecision:
    return await limiter.acquire(
        tenant_id=tenant_id, key_id=key_id, tenant_limits=tenant, key_limits=key, estimated_tokens=tokens
    )


async def _settle(
    limiter: RateLimiter, *, tenant: Limits = NO_LIMITS, key: Limits = NO_LIMITS, estimated: int, actual: int
) -> None:
    await limiter.settle(Settlement("t1", "k1", tenant, key, estimated_tokens=estimated, actual_tokens=actual))


async def _server_seconds(client: redis_asyncio.Redis) -> float:
    seconds, micros = await client.time()
    return seconds + micros / 1_000_000


async def test_burst_over_limit_admits_exactly_the_limit(limiter: RateLimiter) -> None:
    decisions = [await _acquire(limiter, tenant=Limits(requests_per_minute=5)) for _ in range(8)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.headers()["x-ratelimit-remaining-requests"] for d in decisions[:5]] == ["4", "3", "2", "1", "0"]
    assert all("Retry-After" not in d.headers() and d.retry_after_s == 0 for d in decisions[:5])
    for rejected in decisions[5:]:
        headers = rejected.headers()
        assert rejected.blocked_by == "tenant_requests"
        assert 11.0 < rejected.retry_after_s <= 12.0  # one request refills every 60/5 = 12 s
        assert headers["Retry-After"] == "12"
        assert headers["x-ratelimit-limit-requests"] == "5"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")
        assert "x-ratelimit-limit-tokens" not in headers


async def test_bucket_refills_continuously(limiter: RateLimiter) -> None:
    key = Limits(requests_per_minute=60)  # one request per second
    admitted = await asyncio.gather(*(_acquire(limiter, key=key) for _ in range(60)))
    assert all(d.allowed for d in admitted)

    rejected = await _acquire(limiter, key=key)
    assert not rejected.allowed and rejected.blocked_by == "key_requests"
    assert 0 < rejected.retry_after_s <= 1.0
    assert rejected.headers()["Retry-After"] == "1"

    await asyncio.sleep(rejected.retry_after_s + 0.05)
    refilled = await _acquire(limiter, key=key)
    assert refilled.allowed and refilled.remaining_requests == 0
    assert not (await _acquire(limiter, key=key)).allowed


async def test_token_bucket_blocks_a_request_that_does_not_fit(limiter: RateLimiter) -> None:
    key = Limits(tokens_per_minute=100)
    first = await _acquire(limiter, key=key, tokens=80)
    assert first.allowed and first.remaining_tokens == 20 and first.limit_tokens == 100
    assert first.limit_requests is None and "x-ratelimit-limit-requests" not in first.headers()

    blocked = await _acquire(limiter, key=key, tokens=50)
    assert not blocked.allowed and blocked.blocked_by == "key_tokens"
    assert 17.5 < blocked.retry_after_s <= 18.0  # 30 missing tokens at 100/60 per second
    assert blocked.headers()["Retry-After"] == "18"
    assert blocked.headers()["x-ratelimit-remaining-tokens"] == "20"

    small = await _acquire(limiter, key=key, tokens=20)
    assert small.allowed and small.remaining_tokens == 0


async def test_estimate_above_capacity_needs_a_full_bucket_and_leaves_debt(limiter: RateLimiter) -> None:
    tenant = Limits(tokens_per_minute=100)
    big = await _acquire(limiter, tenant=tenant, tokens=250)
    assert big.allowed and big.remaining_tokens == 0
    # 250 tokens of debt+capacity at 100/60 per second
    assert big.reset_tokens_s is not None and 149.0 < big.reset_tokens_s <= 150.0

    after = await _acquire(limiter, tenant=tenant, tokens=1)
    assert not after.allowed and after.blocked_by == "tenant_tokens"
    assert 90.0 < after.retry_after_s <= 90.6  # climb from -150 to 1


async def test_settle_overuse_becomes_debt(limiter: RateLimiter) -> None:
    key = Limits(tokens_per_minute=100)
    assert (await _acquire(limiter, key=key, tokens=10)).allowed
    await _settle(limiter, key=key, estimated=10, actual=200)
    blocked = await _acquire(limiter, key=key, tokens=1)
    assert not blocked.allowed and blocked.blocked_by == "key_tokens"
    assert 60.0 < blocked.retry_after_s <= 60.6  # from -100 back up to 1


async def test_settle_underuse_refunds_tokens(limiter: RateLimiter) -> None:
    tenant = Limits(tokens_per_minute=100)
    assert (await _acquire(limiter, tenant=tenant, tokens=90)).allowed
    assert not (await _acquire(limiter, tenant=tenant, tokens=70)).allowed
    await _settle(limiter, tenant=tenant, estimated=90, actual=20)
    refunded = await _acquire(limiter, tenant=tenant, tokens=70)
    assert refunded.allowed and refunded.remaining_tokens == 10


def _settle_soon(limiter: RateLimiter, *, tenant: Limits, estimated: int, actual: int) -> None:
    limiter.settle_soon(Settlement("t1", "k1", tenant, NO_LIMITS, estimated_tokens=estimated, actual_tokens=actual))


async def test_queued_settle_rides_with_next_acquire(limiter: RateLimiter, redis_client: redis_asyncio.Redis) -> None:
    lingering = RateLimiter(redis_client, prefix=limiter.prefix, linger_s=60.0)  # never flushes on its own
    tenant = Limits(tokens_per_minute=100)
    assert (await _acquire(lingering, tenant=tenant, tokens=90)).allowed
    _settle_soon(lingering, tenant=tenant, estimated=90, actual=20)
    refunded = await _acquire(lingering, tenant=tenant, tokens=70)
    assert refunded.allowed and refunded.remaining_tokens == 10


async def test_drain_sends_a_lingering_settle(limiter: RateLimiter, redis_client: redis_asyncio.Redis) -> None:
    lingering = RateLimiter(redis_client, prefix=limiter.prefix, linger_s=60.0)
    tenant = Limits(tokens_per_minute=100)
    assert (await _acquire(lingering, tenant=tenant, tokens=90)).allowed
    _settle_soon(lingering, tenant=tenant, estimated=90, actual=20)
    await lingering.drain()
    refunded = await _acquire(limiter, tenant=tenant, tokens=70)  # another process sees the refund
    assert refunded.allowed and refunded.remaining_tokens == 10


async def test_queued_settles_survive_redis_restarting_empty(
    limiter: RateLimiter, redis_client: redis_asyncio.Redis
) -> None:
    lingering = RateLimiter(redis_client, prefix=limiter.prefix, linger_s=60.0)
    tenant = Limits(tokens_per_minute=100)
    assert (await _acquire(lingering, tenant=tenant, tokens=90)).allowed
    _settle_soon(lingering, tenant=tenant, estimated=90, actual=20)
    await redis_client.script_flush()  # as after a Redis restart: the queued settle and the acquire get NOSCRIPT
    refunded = await _acquire(lingering, tenant=tenant, tokens=70)
    assert refunded.allowed and refunded.remaining_tokens == 10  # the settle was redone first, in order
    assert lingering.pending == 0


async def test_settles_lost_to_a_redis_outage_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    down = redis_asyncio.Redis(port=free_port(), socket_connect_timeout=0.5)
    limiter = RateLimiter(down, linger_s=60.0)
    try:
        for _ in range(3):
            _settle_soon(limiter, tenant=Limits(tokens_per_minute=100), estimated=90, actual=20)
        await asyncio.wait_for(limiter.drain(), 5.0)
        assert limiter.pending == 0
        lost = [r for r in caplog.records if r.getMessage() == "rate limiter: settles not applied"]
        assert len(lost) == 1 and lost[0].__dict__["count"] == 3
    finally:
        await down.aclose()


async def test_tenant_limit_is_shared_by_its_keys(limiter: RateLimiter) -> None:
    tenant = Limits(requests_per_minute=4)
    for key_id in ("a", "b", "a", "b"):
        assert (await _acquire(limiter, tenant=tenant, key_id=key_id)).allowed
    for key_id in ("a", "b", "c"):
        decision = await _acquire(limiter, tenant=tenant, key_id=key_id)
        assert not decision.allowed and decision.blocked_by == "tenant_requests"
    other_tenant = await _acquire(limiter, tenant=tenant, tenant_id="t2", key_id="a")
    assert other_tenant.allowed and other_tenant.remaining_requests == 3


async def test_key_limit_is_independent_per_key(limiter: RateLimiter) -> None:
    key = Limits(requests_per_minute=2)
    for key_id in ("a", "b"):
        assert [(await _acquire(limiter, key=key, key_id=key_id)).allowed for _ in range(3)] == [
            True,
            True,
            False,
        ]
    rejected = await _acquire(limiter, key=key, key_id="a")
    assert rejected.blocked_by == "key_requests"


async def test_headers_report_the_tightest_bucket(limiter: RateLimiter) -> None:
    decision = await _acquire(
        limiter,
        tenant=Limits(requests_per_minute=10, tokens_per_minute=1000),
        key=Limits(requests_per_minute=3, tokens_per_minute=5000),
        tokens=100,
    )
    assert decision.allowed
    assert (decision.limit_requests, decision.remaining_requests) == (3, 2)
    assert (decision.limit_tokens, decision.remaining_tokens) == (1000, 900)


async def test_rejected_request_debits_nothing(limiter: RateLimiter) -> None:
    tenant = Limits(requests_per_minute=10, tokens_per_minute=1000)
    key = Limits(tokens_per_minute=10)
    assert (await _acquire(limiter, tenant=tenant, key=key, tokens=10)).allowed
    for _ in range(3):
        assert (await _acquire(limiter, tenant=tenant, key=key, tokens=10)).blocked_by == "key_tokens"
    other_key = await _acquire(limiter, tenant=tenant, key_id="k2", tokens=10)
    assert other_key.remaining_requests == 8 and other_key.remaining_tokens == 980


async def test_none_means_unlimited(limiter: RateLimiter, redis_client: redis_asyncio.Redis) -> None:
    unlimited = [await _acquire(limiter, tokens=10**9) for _ in range(50)]
    assert all(d.allowed for d in unlimited) and unlimited[0].headers() == {}
    assert await redis_client.exists(*limiter.bucket_keys("t1", "k1")) == 0

    requests_only = [await _acquire(limiter, tenant=Limits(requests_per_minute=100), tokens=10**9) for _ in range(3)]
    assert all(d.allowed and d.limit_tokens is None for d in requests_only)
    assert await redis_client.exists(*limiter.bucket_keys("t1", "k1")) == 1


async def test_idle_buckets_expire(limiter: RateLimiter, redis_client: redis_asyncio.Redis) -> None:
    limits = Limits(requests_per_minute=600, tokens_per_minute=6000)  # 10 requests and 100 tokens per second
    assert (await _acquire(limiter, tenant=limits, key=limits, tokens=50)).allowed
    keys = limiter.bucket_keys("t1", "k1")
    ttls = [await redis_client.pttl(key) for key in keys]
    assert all(0 < ttl <= 1500 for ttl in ttls), ttls  # time to refill (100 ms or 500 ms) + 1 s grace
    await asyncio.sleep(1.6)
    assert await redis_client.exists(*keys) == 0


async def test_script_is_cached_on_the_server(limiter: RateLimiter, redis_client: redis_asyncio.Redis) -> None:
    await _acquire(limiter, tenant=Limits(requests_per_minute=1))
    assert await redis_client.script_exists(limiter._script.sha) == [True]


async def test_concurrent_acquires_from_two_clients_admit_exactly_the_limit(
    limiter: RateLimiter, infra_urls: InfraUrls
) -> None:
    clients = [redis_asyncio.from_url(infra_urls.redis_url) for _ in range(2)]
    try:
        limiters = [RateLimiter(client, prefix=limiter.prefix) for client in clients]
        tenant = Limits(requests_per_minute=50)
        decisions = await asyncio.gather(*(_acquire(limiters[i % 2], tenant=tenant) for i in range(200)))
        assert sum(d.allowed for d in decisions) == 50
        assert sorted(d.remaining_requests or 0 for d in decisions if d.allowed) == list(range(50))
    finally:
        for client in clients:
            await client.aclose()


_WORKER = """
import asyncio, sys
import redis.asyncio as redis_asyncio
from aiaas_testing import InfraUrls, free_port
from gateway.limits.service import Limits, RateLimiter

async def main(url, prefix, count, limit):
    client = redis_asyncio.from_url(url)
    limiter = RateLimiter(client, prefix=prefix)
    await client.ping()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    decisions = await asyncio.gather(*(
        limiter.acquire(
            tenant_id="shared", key_id=f"k{i % 7}", tenant_limits=Limits(requests_per_minute=limit),
            key_limits=Limits(), estimated_tokens=0,
        )
        for i in range(count)
    ))
    print(sum(d.allowed for d in decisions), flush=True)
    await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


async def test_two_processes_share_one_limit(limiter: RateLimiter, infra_urls: InfraUrls) -> None:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            infra_urls.redis_url,
            limiter.prefix,
            "100",
            "50",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        pipes = [(worker.stdin, worker.stdout) for worker in workers]
        for _, stdout in pipes:
            assert stdout is not None and await asyncio.wait_for(stdout.readline(), 30) == b"ready\n"
        started = time.monotonic()
        for stdin, _ in pipes:  # start both bursts together
            assert stdin is not None
            stdin.write(b"go\n")
            await stdin.drain()
        admitted = [int(await asyncio.wait_for(stdout.readline(), 30)) for _, stdout in pipes if stdout is not None]
        elapsed = time.monotonic() - started
        assert [await worker.wait() for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    # Exactly the capacity, plus whatever the bucket refilled (50/min) while a slow machine ran the bursts.
    assert 50 <= sum(admitted) <= 50 + math.ceil(elapsed * 50 / 60)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.02, "20ms"),
        (0.9994, "999ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (12.3456, "12.346s"),
        (360, "6m0s"),
        (90.5, "1m30.5s"),
        (3723, "1h2m3s"),
    ],
)
def test_format_reset_matches_openai_style(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_retry_after_is_a_whole_number_of_seconds_at_least_one() -> None:
    decision = LimitDecision(False, 0.2, 5, 0, 0.2, None, None, None, "tenant_requests")
    assert decision.headers()["Retry-After"] == "1"
    assert LimitDecision(False, 2.01, 5, 0, 2.0, None, None, None, "key_requests").headers()["Retry-After"] == "3"


_steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=400), st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.05])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rpm=st.integers(min_value=1, max_value=30), tpm=st.integers(min_value=1, max_value=300), steps=_steps)
async def test_admitted_never_exceeds_capacity_plus_refill(
    limiter: RateLimiter,
    redis_client: redis_asyncio.Redis,
    rpm: int,
    tpm: int,
    steps: list[tuple[int, float]],
) -> None:
    tenant_id = uuid.uuid4().hex
    limits = Limits(requests_per_minute=rpm, tokens_per_minute=tpm)
    started = await _server_seconds(redis_client)
    admitted_estimates: list[int] = []
    for index, (estimate, pause) in enumerate(steps):
        decision = await _acquire(limiter, tenant=limits, tokens=estimate, tenant_id=tenant_id)
        if index == 0:
            assert decision.allowed, "fresh buckets are full, so the first request always fits"
        assert decision.allowed == (decision.retry_after_s == 0)
        assert decision.remaining_requests is not None and decision.remaining_tokens is not None
        assert 0 <= decision.remaining_requests <= rpm and 0 <= decision.remaining_tokens <= tpm
        if decision.allowed:
            admitted_estimates.append(estimate)
        if pause:
            await asyncio.sleep(pause)
    elapsed = await _server_seconds(redis_client) - started

    assert len(admitted_estimates) <= math.floor(rpm + elapsed * rpm / 60)
    # Only a request larger than the whole bucket may overdraw it, and then by at most its excess.
    overdraft = max(0, max(admitted_estimates) - tpm)
    assert sum(admitted_estimates) <= tpm + elapsed * tpm / 60 + overdraft + 1e-6
