"""The response cache through the real gateway (issue 14 acceptance 7).

A real control plane sets the cache flags per tenant, the gateway answers through the provider simulator,
entries land in Redis and in Postgres (pgvector), and the openai SDK reads every reply. The simulator's
request counter shows which replies reached a provider. Tenants, RLS and metering: test_cache_isolation.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from aiaas_testing import wait_for
from aiaas_testing.metrics import metric_value, scrape_metrics

from .cache_support import PARAPHRASE, QUESTION, UNRELATED, CacheStack, run_control_plane


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[str]:
    yield from run_control_plane(run_dir, control_plane_env)


@pytest.fixture
async def stack(control_plane, gateway_url, sim_url, admin_headers, make_tenant) -> AsyncIterator[CacheStack]:
    async with aiohttp.ClientSession() as http:
        stack = CacheStack(
            http,
            gateway=gateway_url,
            control_plane=control_plane,
            sim=sim_url,
            admin_headers=admin_headers,
            make_tenant=make_tenant,
        )
        await stack.ensure_flags()
        yield stack


async def test_a_repeat_is_an_exact_hit_and_reaches_no_provider(stack):
    tenant = await stack.tenant()
    first = await stack.ask(tenant, "Name three colours of the rainbow.")
    assert first.cache == "miss"
    await stack.stored(tenant, 1)

    before = await stack.sim_requests()
    again = await stack.ask(tenant, "Name three colours of the rainbow.")
    assert await stack.sim_requests() == before, "an exact hit calls no provider"
    assert again.cache == "exact"
    assert again.text == first.text
    assert (again.usage.prompt_tokens, again.usage.completion_tokens) == (
        first.usage.prompt_tokens,
        first.usage.completion_tokens,
    )
    assert "x-aiaas-deployment" not in again.headers
    assert uuid.UUID(again.headers["x-cache-id"])


@pytest.mark.parametrize("model", ["chat", "claude"])
async def test_streamed_replay_is_valid_sse_with_the_original_text(stack, model):
    tenant = await stack.tenant()
    question = f"Describe a quiet harbour at dawn ({model})."
    live = await stack.ask(tenant, question, model=model, stream=True)
    assert live.cache == "miss"
    await stack.stored(tenant, 1)

    before = await stack.sim_requests()
    replayed = await stack.ask(tenant, question, model=model, stream=True)
    plain = await stack.ask(tenant, question, model=model)
    assert await stack.sim_requests() == before
    assert replayed.cache == plain.cache == "exact"
    assert replayed.text == plain.text == live.text and live.text
    assert replayed.usage.completion_tokens == live.usage.completion_tokens
    assert replayed.headers["content-type"].startswith("text/event-stream")


async def test_a_paraphrase_above_the_threshold_hits_and_one_below_misses(stack):
    tenant = await stack.tenant()
    original = await stack.ask(tenant, QUESTION)
    assert original.cache == "miss"
    await stack.stored(tenant, 1)

    before = await stack.sim_requests()
    paraphrase = await stack.ask(tenant, PARAPHRASE)
    assert await stack.sim_requests() == before
    assert paraphrase.cache == "semantic"
    assert paraphrase.text == original.text
    similarity = float(paraphrase.headers["x-cache-similarity"])
    threshold = (await stack.summary(tenant))["threshold"]
    assert threshold <= similarity < 1.0

    unrelated = await stack.ask(tenant, UNRELATED)
    assert unrelated.cache == "miss"
    assert await stack.sim_requests() == before + 1
    assert float(unrelated.headers["x-cache-similarity"]) < threshold

    # Another system prompt (or other parameters) is never a candidate, however close the question.
    other = await stack.ask(tenant, PARAPHRASE, max_tokens=7)
    assert other.cache == "miss"


async def test_a_semantic_hits_repeats_are_exact_hits_of_the_same_entry_until_it_goes(stack):
    tenant = await stack.tenant()
    await stack.ask(tenant, QUESTION)
    await stack.stored(tenant, 1)
    semantic = await stack.ask(tenant, PARAPHRASE)
    assert semantic.cache == "semantic"

    async def linked() -> bool:
        return (await stack.ask(tenant, PARAPHRASE, headers={"Cache-Control": "no-store"})).cache == "exact"

    await wait_for(linked, timeout_s=10)  # the link is made after the reply
    repeat = await stack.ask(tenant, PARAPHRASE)
    assert repeat.headers["x-cache-id"] == semantic.headers["x-cache-id"] and repeat.text == semantic.text
    assert await stack.entries(tenant) == 1, "a link is not an entry"

    status, _ = await stack.delete(tenant, f"/{semantic.headers['x-cache-id']}")
    assert status == 200
    no_store = {"Cache-Control": "no-store"}
    assert (await stack.ask(tenant, PARAPHRASE, headers=no_store)).cache == "miss", "the link went with its entry"
    assert (await stack.ask(tenant, QUESTION, headers=no_store)).cache == "miss"


async def test_invalidation_by_alias_by_id_and_by_config_version(stack):
    tenant = await stack.tenant()
    await stack.ask(tenant, "First question to forget.")
    await stack.ask(tenant, "First question to forget.", model="claude")
    await stack.stored(tenant, 2)

    status, body = await stack.delete(tenant, model="chat")
    assert (status, body) == (200, {"object": "cache.deleted", "deleted": 1, "model": "chat", "id": None})
    assert (await stack.ask(tenant, "First question to forget.")).cache == "miss"
    assert (await stack.ask(tenant, "First question to forget.", model="claude")).cache == "exact"
    await stack.stored(tenant, 2)

    hit = await stack.ask(tenant, "First question to forget.")
    assert hit.cache == "exact"
    status, body = await stack.delete(tenant, f"/{hit.headers['x-cache-id']}")
    assert (status, body["deleted"], body["id"]) == (200, 1, hit.headers["x-cache-id"])
    assert (await stack.ask(tenant, "First question to forget.")).cache == "miss"
    await stack.stored(tenant, 2)

    assert await stack.delete(tenant) == (200, {"object": "cache.deleted", "deleted": 2, "model": None, "id": None})
    assert await stack.entries(tenant) == 0
    assert (await stack.ask(tenant, "First question to forget.", model="claude")).cache == "miss"
    await stack.stored(tenant, 1)


async def test_a_new_config_version_misses(stack):
    tenant = await stack.tenant()
    await stack.ask(tenant, QUESTION)
    await stack.stored(tenant, 1)
    assert (await stack.ask(tenant, QUESTION)).cache == "exact"
    await stack.set_flags(tenant, {"cache.version": 2})  # e.g. the tenant changed its system prompt
    no_store = {"Cache-Control": "no-store"}
    assert (await stack.ask(tenant, QUESTION, headers=no_store)).cache == "miss"
    assert (await stack.ask(tenant, PARAPHRASE, headers=no_store)).cache == "miss", "nor semantically"


async def test_after_the_ttl_an_entry_misses(stack):
    tenant = await stack.tenant(cache__ttl_s=1)
    await stack.ask(tenant, QUESTION)
    await stack.stored(tenant, 1)
    await asyncio.sleep(1.5)  # the TTL is one second: both tiers have expired it
    assert await stack.entries(tenant) == 0
    assert (await stack.ask(tenant, PARAPHRASE, headers={"Cache-Control": "no-store"})).cache == "miss"
    assert (await stack.ask(tenant, QUESTION)).cache == "miss"


async def test_cache_control_no_store_stores_nothing_and_no_cache_skips_the_lookup(stack):
    tenant = await stack.tenant()
    for _ in range(2):
        reply = await stack.ask(tenant, "What is my account balance today?", headers={"Cache-Control": "no-store"})
        assert reply.cache == "miss"
    await stack.ask(tenant, "Which trains run to Oxford on Sundays?")
    await stack.stored(tenant, 1)
    assert (await stack.ask(tenant, "What is my account balance today?")).cache == "miss", "no-store stored nothing"
    await stack.stored(tenant, 2)

    before = await stack.sim_requests()
    fresh = await stack.ask(tenant, "Which trains run to Oxford on Sundays?", headers={"Cache-Control": "no-cache"})
    assert fresh.cache == "bypass"
    assert await stack.sim_requests() == before + 1, "no-cache asks the provider"
    assert (await stack.ask(tenant, "Which trains run to Oxford on Sundays?")).cache == "exact"


async def test_ineligible_requests_bypass_and_a_tenant_without_the_cache_sees_no_header(stack):
    tenant = await stack.tenant(cache__max_temperature_centi=50)
    assert (await stack.ask(tenant, "Warm question.", temperature=0.9)).cache == "bypass"
    assert (await stack.ask(tenant, "Warm question.", temperature=0.9)).cache == "bypass"
    plain = await stack.tenant(cache__enabled=False)
    reply = await stack.ask(plain, "Uncached question.")
    assert reply.cache is None and "x-cache-similarity" not in reply.headers


async def test_a_store_that_fails_loses_no_reply(stack, metrics_of):
    # Postgres cannot store U+0000 in text: the store after the reply fails; the replies do not.
    tenant = await stack.tenant()
    failed_before = await _failed_stores(metrics_of(stack.gateway))
    first = await stack.ask(tenant, "Spell this: a\x00b")
    await stack.ask(tenant, QUESTION)
    await stack.stored(tenant, 1)  # the other answer is stored: the cache goes on working
    await wait_for(lambda: _more_failed(metrics_of(stack.gateway), failed_before))
    again = await stack.ask(tenant, "Spell this: a\x00b")
    assert (first.cache, again.cache) == ("miss", "miss")
    assert first.text and again.text == first.text
    assert (await stack.ask(tenant, QUESTION)).cache == "exact"


async def _failed_stores(metrics_url: str) -> float:
    samples = await scrape_metrics(metrics_url)
    return metric_value(samples, "gateway_cache_stores_total", outcome="failed")


async def _more_failed(metrics_url: str, before: float) -> bool:
    return await _failed_stores(metrics_url) > before


async def test_a_hit_counts_as_a_request_but_spends_no_quota_tokens(stack, infra_urls):
    """Billing meters a hit as 1 request and 0 tokens; the gateway's live quota agrees."""
    import redis.asyncio as redis_asyncio

    from aiaas.quota import quota_key

    tenant = await stack.tenant()
    client = redis_asyncio.from_url(infra_urls.redis_url, decode_responses=True)
    key = quota_key(tenant.id)
    # What billing publishes for an open period with room to spare.
    await client.hset(
        key,
        mapping={
            "period_start": "2026-01-01T00:00:00Z",
            "token_limit": 10_000_000,
            "request_limit": 1_000_000,
            "used_tokens": 0,
            "used_requests": 0,
            "credit_minor": 0,
            "limit_name": "test",
        },
    )
    try:
        first = await stack.ask(tenant, "List two prime numbers.")
        assert first.cache == "miss"
        spent = first.usage.prompt_tokens + first.usage.completion_tokens

        async def used() -> tuple[int, int]:
            values = await client.hmget(key, "used_tokens", "used_requests")
            return int(values[0]), int(values[1])

        # Admission reserves the request and an estimate of its tokens; the settle after the answer corrects it.
        async def settled(expected: tuple[int, int]) -> bool:
            return await used() == expected

        await wait_for(lambda: settled((spent, 1)), timeout_s=10)
        await stack.stored(tenant, 1)
        again = await stack.ask(tenant, "List two prime numbers.")
        assert again.cache == "exact"
        await wait_for(lambda: settled((spent, 2)), timeout_s=10)
    finally:
        await client.delete(key)
        await client.aclose()


async def test_a_refused_request_is_never_answered_from_the_cache(stack, infra_urls):
    """The exact tier's read travels with the admission's round trip, but a hit is served only once admitted: a
    tenant out of quota gets its 429, not the cached answer, and reaches no provider."""
    import redis.asyncio as redis_asyncio

    from aiaas.quota import quota_key

    tenant = await stack.tenant()
    question = "Name the largest planet of the solar system."
    first = await stack.ask(tenant, question)
    assert first.cache == "miss"
    await stack.stored(tenant, 1)
    client = redis_asyncio.from_url(infra_urls.redis_url, decode_responses=True)
    key = quota_key(tenant.id)
    # What billing publishes for a period whose requests are all used.
    await client.hset(
        key,
        mapping={
            "period_start": "2026-01-01T00:00:00Z",
            "token_limit": 10_000_000,
            "request_limit": 5,
            "used_tokens": 0,
            "used_requests": 5,
            "credit_minor": 0,
            "limit_name": "test",
        },
    )
    try:
        before = await stack.sim_requests()
        body = {"model": "chat", "messages": [{"role": "user", "content": question}]}
        async with stack.http.post(f"{stack.gateway}/v1/chat/completions", json=body, headers=tenant.auth) as resp:
            assert resp.status == 429, await resp.text()
            assert (await resp.json())["error"]["code"] == "quota_exceeded"
            assert "x-cache" not in resp.headers
        assert await stack.sim_requests() == before
    finally:
        await client.delete(key)
        await client.aclose()
    again = await stack.ask(tenant, question)
    assert again.cache == "exact" and again.text == first.text
