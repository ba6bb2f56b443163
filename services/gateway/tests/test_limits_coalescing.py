"""Limiter acquires coalesce: while one Redis round trip is in flight, the next ones wait and go together."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis_asyncio

from gateway.limits.service import LimitDecision, Limits, RateLimiter


async def _acquire(limiter: RateLimiter, tenant: Limits, tenant_id: str = "t1") -> LimitDecision:
    return await limiter.acquire(
        tenant_id=tenant_id, key_id="k1", tenant_limits=tenant, key_limits=Limits(), estimated_tokens=0
    )


async def test_concurrent_acquires_coalesce_into_few_round_trips(limiter: RateLimiter) -> None:
    """Acquires that arrive while a round trip is in flight go together in the next one, each answered right."""
    round_trips: list[int] = []
    real = limiter._round_trip

    async def counting(
        calls: list[tuple[list[str], list[str | int]]],
    ) -> list[object]:  # a spy on our own method: Redis is real, every call still goes to it
        round_trips.append(len(calls))
        return await real(calls)

    limiter._round_trip = counting  # type: ignore[method-assign]
    tenant = Limits(requests_per_minute=40)
    decisions = await asyncio.gather(*(_acquire(limiter, tenant) for _ in range(100)))
    assert sum(d.allowed for d in decisions) == 40
    assert sorted(d.remaining_requests or 0 for d in decisions if d.allowed) == list(range(40))
    assert sum(round_trips) == 100 and 2 <= len(round_trips) < 100
    assert round_trips[0] == 1  # the first goes at once, alone; the rest waited for it and went together
    assert limiter.pending == 0  # idle again: the next acquire goes at once


async def test_coalesced_acquires_survive_a_script_flush(
    limiter: RateLimiter, redis_client: redis_asyncio.Redis
) -> None:
    await _acquire(limiter, Limits(requests_per_minute=1000))
    await redis_client.script_flush()  # as after a Redis restart: every EVALSHA answers NOSCRIPT
    tenant = Limits(requests_per_minute=10)
    decisions = await asyncio.gather(*(_acquire(limiter, tenant, tenant_id="t2") for _ in range(30)))
    assert sum(d.allowed for d in decisions) == 10
    assert await redis_client.script_exists(limiter._script.sha) == [True]


async def test_a_cancelled_waiting_acquire_leaves_the_others_answered(limiter: RateLimiter) -> None:
    tenant = Limits(requests_per_minute=100)
    tasks = [asyncio.create_task(_acquire(limiter, tenant)) for _ in range(20)]
    await asyncio.sleep(0)  # the first is in flight, the others wait for the next round trip
    tasks[5].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[5], asyncio.CancelledError)
    assert all(isinstance(r, LimitDecision) and r.allowed for i, r in enumerate(results) if i != 5)
    assert (await _acquire(limiter, tenant)).allowed
