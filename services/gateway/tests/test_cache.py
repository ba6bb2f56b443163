"""The response cache through the real gateway (issue 14 acceptance 7, and 8's gateway half).

A real control plane sets the cache flags per tenant, the gateway answers through the provider simulator,
entries land in Redis and in Postgres (pgvector), and the openai SDK reads every reply. The simulator's
request counter shows which replies reached a provider.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import openai
import pytest

from aiaas_testing import ServiceProcess, TenantWithKey, free_port, wait_for
from gateway.cache.rules import CACHE_FLAGS

CacheTenant = Callable[..., Awaitable[TenantWithKey]]

# Measured with all-MiniLM-L6-v2 and accepted by aiaas.semcache.verify (see test_cache_semantic_pairs below).
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
UNRELATED = "What is the best way to cook rice?"


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=control_plane_env,
        log_path=run_dir / f"control-plane-cache-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="module")
async def cache_flags(control_plane: str, http: aiohttp.ClientSession, admin_headers: dict[str, str]) -> str:
    """The cache flags exist in the control plane (created as declared unless it seeded them already)."""
    for spec in CACHE_FLAGS:
        async with http.post(
            f"{control_plane}/admin/flags", json={**spec, "reason": "test: cache flags"}, headers=admin_headers
        ) as resp:
            assert resp.status in (201, 409), await resp.text()
    return control_plane


@pytest.fixture
def cache_tenant(cache_flags, http, admin_headers, gateway_url, make_tenant) -> CacheTenant:
    """`await cache_tenant(**flags)`: a new tenant with the cache on (and these flag overrides), live in the gateway."""

    async def _make(**overrides: Any) -> TenantWithKey:
        tenant = await make_tenant()
        values = {"cache.enabled": True, **{key.replace("__", "."): value for key, value in overrides.items()}}
        for key, value in values.items():
            async with http.put(
                f"{cache_flags}/admin/flags/{key}/tenants/{tenant.id}",
                json={"value": value, "reason": "test: cache settings"},
                headers=admin_headers,
            ) as resp:
                assert resp.status == 200, await resp.text()
        await wait_for(lambda: _settings_live(http, gateway_url, tenant, values), timeout_s=10)
        return tenant

    return _make


async def _settings_live(
    http: aiohttp.ClientSession, gateway: str, tenant: TenantWithKey, values: dict[str, Any]
) -> bool:
    summary = await _summary(http, gateway, tenant)
    expected = {
        "cache.enabled": ("enabled", lambda v: v),
        "cache.ttl_s": ("ttl_s", lambda v: v),
        "cache.threshold_milli": ("threshold", lambda v: v / 1000),
        "cache.max_entries": ("max_entries", lambda v: v),
        "cache.version": ("version", lambda v: v),
    }
    return all(summary[field] == convert(values[key]) for key, (field, convert) in expected.items() if key in values)


async def _summary(http: aiohttp.ClientSession, gateway: str, tenant: TenantWithKey) -> dict[str, Any]:
    async with http.get(f"{gateway}/v1/cache", headers=tenant.auth) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def _entries(http: aiohttp.ClientSession, gateway: str, tenant: TenantWithKey) -> int:
    return int((await _summary(http, gateway, tenant))["entries"])


async def _stored(http: aiohttp.ClientSession, gateway: str, tenant: TenantWithKey, count: int) -> None:
    """Stores run after the reply: wait until the tenant holds `count` entries."""
    await wait_for(lambda: _has(http, gateway, tenant, count), timeout_s=15)


async def _has(http: aiohttp.ClientSession, gateway: str, tenant: TenantWithKey, count: int) -> bool:
    return await _entries(http, gateway, tenant) == count


async def _sim_requests(http: aiohttp.ClientSession, sim_url: str) -> int:
    async with http.get(f"{sim_url}/_sim/stats") as resp:
        return int((await resp.json())["total_requests"])


def _client(gateway: str, tenant: TenantWithKey) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key=tenant.api_key, max_retries=0)


class Reply:
    def __init__(self, text: str, headers: Any, usage: Any, request_id: str) -> None:
        self.text = text
        self.headers = headers
        self.usage = usage
        self.request_id = request_id

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-cache")


async def _ask(
    gateway: str,
    tenant: TenantWithKey,
    question: str,
    *,
    model: str = "chat",
    stream: bool = False,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Reply:
    """One chat request through the openai SDK; streamed replies are read to the end with the SDK's parser."""
    client = _client(gateway, tenant)
    messages = [{"role": "user", "content": question}]
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=messages, extra_headers=headers, **params
        )
        completion = raw.parse()
        return Reply(
            completion.choices[0].message.content or "", raw.headers, completion.usage, raw.headers["x-request-id"]
        )
    raw_stream = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
        **params,
    )
    parts: list[str] = []
    usage = None
    finishes = []
    async for chunk in raw_stream.parse():
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            if chunk.choices[0].finish_reason:
                finishes.append(chunk.choices[0].finish_reason)
        if chunk.usage is not None:
            usage = chunk.usage
    assert finishes in (["stop"], ["length"]), finishes
    assert usage is not None, "the usage chunk ends the stream"
    return Reply("".join(parts), raw_stream.headers, usage, raw_stream.headers["x-request-id"])


async def test_a_repeat_is_an_exact_hit_and_reaches_no_provider(cache_tenant, gateway_url, sim_url, http):
    tenant = await cache_tenant()
    first = await _ask(gateway_url, tenant, "Name three colours of the rainbow.")
    assert first.cache == "miss"
    await _stored(http, gateway_url, tenant, 1)

    before = await _sim_requests(http, sim_url)
    again = await _ask(gateway_url, tenant, "Name three colours of the rainbow.")
    assert await _sim_requests(http, sim_url) == before, "an exact hit calls no provider"
    assert again.cache == "exact"
    assert again.text == first.text
    assert (again.usage.prompt_tokens, again.usage.completion_tokens) == (
        first.usage.prompt_tokens,
        first.usage.completion_tokens,
    )
    assert "x-aiaas-deployment" not in again.headers
    assert uuid.UUID(again.headers["x-cache-id"])


@pytest.mark.parametrize("model", ["chat", "claude"])
async def test_streamed_replay_is_valid_sse_with_the_original_text(cache_tenant, gateway_url, sim_url, http, model):
    tenant = await cache_tenant()
    question = f"Describe a quiet harbour at dawn ({model})."
    live = await _ask(gateway_url, tenant, question, model=model, stream=True)
    assert live.cache == "miss"
    await _stored(http, gateway_url, tenant, 1)

    before = await _sim_requests(http, sim_url)
    replayed = await _ask(gateway_url, tenant, question, model=model, stream=True)
    plain = await _ask(gateway_url, tenant, question, model=model)
    assert await _sim_requests(http, sim_url) == before
    assert replayed.cache == plain.cache == "exact"
    assert replayed.text == plain.text == live.text and live.text
    assert replayed.usage.completion_tokens == live.usage.completion_tokens
    assert replayed.headers["content-type"].startswith("text/event-stream")


async def test_a_paraphrase_above_the_threshold_hits_and_one_below_misses(cache_tenant, gateway_url, sim_url, http):
    tenant = await cache_tenant()
    original = await _ask(gateway_url, tenant, QUESTION)
    assert original.cache == "miss"
    await _stored(http, gateway_url, tenant, 1)

    before = await _sim_requests(http, sim_url)
    paraphrase = await _ask(gateway_url, tenant, PARAPHRASE)
    assert await _sim_requests(http, sim_url) == before
    assert paraphrase.cache == "semantic"
    assert paraphrase.text == original.text
    similarity = float(paraphrase.headers["x-cache-similarity"])
    threshold = (await _summary(http, gateway_url, tenant))["threshold"]
    assert threshold <= similarity < 1.0

    unrelated = await _ask(gateway_url, tenant, UNRELATED)
    assert unrelated.cache == "miss"
    assert await _sim_requests(http, sim_url) == before + 1
    assert float(unrelated.headers["x-cache-similarity"]) < threshold

    # Another system prompt (or other parameters) is never a candidate, however close the question.
    other = await _ask(gateway_url, tenant, PARAPHRASE, max_tokens=7)
    assert other.cache == "miss"


async def test_invalidation_by_alias_by_id_and_by_config_version(cache_tenant, gateway_url, http):
    tenant = await cache_tenant()
    await _ask(gateway_url, tenant, "First question to forget.")
    await _ask(gateway_url, tenant, "First question to forget.", model="claude")
    await _stored(http, gateway_url, tenant, 2)

    async with http.delete(f"{gateway_url}/v1/cache", params={"model": "chat"}, headers=tenant.auth) as resp:
        assert resp.status == 200
        assert await resp.json() == {"object": "cache.deleted", "deleted": 1, "model": "chat", "id": None}
    assert (await _ask(gateway_url, tenant, "First question to forget.")).cache == "miss"
    assert (await _ask(gateway_url, tenant, "First question to forget.", model="claude")).cache == "exact"
    await _stored(http, gateway_url, tenant, 2)

    hit = await _ask(gateway_url, tenant, "First question to forget.")
    assert hit.cache == "exact"
    async with http.delete(f"{gateway_url}/v1/cache/{hit.headers['x-cache-id']}", headers=tenant.auth) as resp:
        assert resp.status == 200 and (await resp.json())["deleted"] == 1
    assert (await _ask(gateway_url, tenant, "First question to forget.")).cache == "miss"
    await _stored(http, gateway_url, tenant, 2)

    async with http.delete(f"{gateway_url}/v1/cache", headers=tenant.auth) as resp:
        assert (await resp.json())["deleted"] == 2
    assert await _entries(http, gateway_url, tenant) == 0
    assert (await _ask(gateway_url, tenant, "First question to forget.", model="claude")).cache == "miss"
    await _stored(http, gateway_url, tenant, 1)


async def test_a_new_config_version_misses(cache_tenant, gateway_url, http, admin_headers, cache_flags):
    tenant = await cache_tenant()
    await _ask(gateway_url, tenant, QUESTION)
    await _stored(http, gateway_url, tenant, 1)
    assert (await _ask(gateway_url, tenant, QUESTION)).cache == "exact"
    async with http.put(
        f"{cache_flags}/admin/flags/cache.version/tenants/{tenant.id}",
        json={"value": 2, "reason": "test: new system prompt"},
        headers=admin_headers,
    ) as resp:
        assert resp.status == 200
    await wait_for(lambda: _settings_live(http, gateway_url, tenant, {"cache.version": 2}), timeout_s=10)
    no_store = {"Cache-Control": "no-store"}
    assert (await _ask(gateway_url, tenant, QUESTION, headers=no_store)).cache == "miss"
    assert (await _ask(gateway_url, tenant, PARAPHRASE, headers=no_store)).cache == "miss", "nor semantically"


async def test_after_the_ttl_an_entry_misses(cache_tenant, gateway_url, http):
    tenant = await cache_tenant(cache__ttl_s=1)
    await _ask(gateway_url, tenant, QUESTION)
    await _stored(http, gateway_url, tenant, 1)
    await asyncio.sleep(1.5)  # the TTL is one second: both tiers have expired it
    assert await _entries(http, gateway_url, tenant) == 0
    assert (await _ask(gateway_url, tenant, PARAPHRASE, headers={"Cache-Control": "no-store"})).cache == "miss"
    assert (await _ask(gateway_url, tenant, QUESTION)).cache == "miss"


async def test_cache_control_no_store_stores_nothing_and_no_cache_skips_the_lookup(
    cache_tenant, gateway_url, sim_url, http
):
    tenant = await cache_tenant()
    for _ in range(2):
        reply = await _ask(gateway_url, tenant, "Private question.", headers={"Cache-Control": "no-store"})
        assert reply.cache == "miss"
    await _ask(gateway_url, tenant, "Public question.")
    await _stored(http, gateway_url, tenant, 1)
    assert (await _ask(gateway_url, tenant, "Private question.")).cache == "miss", "no-store stored nothing"
    await _stored(http, gateway_url, tenant, 2)

    before = await _sim_requests(http, sim_url)
    fresh = await _ask(gateway_url, tenant, "Public question.", headers={"Cache-Control": "no-cache"})
    assert fresh.cache == "bypass"
    assert await _sim_requests(http, sim_url) == before + 1, "no-cache asks the provider"
    assert (await _ask(gateway_url, tenant, "Public question.")).cache == "exact"


async def test_ineligible_requests_bypass_and_a_tenant_without_the_cache_sees_no_header(
    cache_tenant, gateway_url, http, make_tenant
):
    tenant = await cache_tenant(cache__max_temperature_centi=50)
    assert (await _ask(gateway_url, tenant, "Warm question.", temperature=0.9)).cache == "bypass"
    assert (await _ask(gateway_url, tenant, "Warm question.", temperature=0.9)).cache == "bypass"
    plain = await make_tenant()
    reply = await _ask(gateway_url, plain, "Uncached question.")
    assert reply.cache is None and "x-cache-similarity" not in reply.headers
