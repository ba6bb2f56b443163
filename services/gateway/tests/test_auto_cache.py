"""`model: "auto"` for a tenant with the response cache: the router is asked once per miss, never for an exact hit.

The decision is asked for while the semantic tier searches (both need the request's one embedding): a semantic miss
is served by it, a semantic hit answers from the cache and leaves it unused. The router is the contract server of
test_auto.py; the cache flags come from a real control plane.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from aiaas_embedder import default_embedder
from aiaas_testing import serve_local, wait_for

from .cache_support import PARAPHRASE, QUESTION, UNRELATED, CacheStack, run_control_plane
from .test_auto import ContractRouter, _auto_env


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[str]:
    yield from run_control_plane(run_dir, control_plane_env)


@pytest.fixture(scope="module")
async def cache_router() -> AsyncIterator[tuple[ContractRouter, str]]:
    router = ContractRouter()
    app = web.Application()
    app.router.add_post("/v1/router/decide", router.decide)
    async with serve_local(app) as url:
        yield router, url


@pytest.fixture(scope="module")
def auto_cache_gateway(spawn_gateway, cache_router) -> str:
    return spawn_gateway(name="gateway-auto-cache", **_auto_env(cache_router[1]))


@pytest.fixture
async def stack(control_plane, auto_cache_gateway, sim_url, admin_headers, make_tenant) -> AsyncIterator[CacheStack]:
    async with aiohttp.ClientSession() as http:
        stack = CacheStack(
            http,
            gateway=auto_cache_gateway,
            control_plane=control_plane,
            sim=sim_url,
            admin_headers=admin_headers,
            make_tenant=make_tenant,
        )
        await stack.ensure_flags()
        yield stack


async def test_auto_asks_the_router_once_per_miss_and_not_for_an_exact_hit(stack, cache_router) -> None:
    router, _ = cache_router
    tenant = await stack.tenant()
    calls = router.calls.setdefault(str(tenant.id), [])

    first = await stack.ask(tenant, QUESTION, model="auto")
    assert first.cache == "miss"
    assert first.headers["x-router-tier"] == "cheap" and first.headers["x-aiaas-deployment"] == "chat-a"
    assert str(uuid.UUID(first.headers["x-router-decision-id"])) == first.headers["x-router-decision-id"]
    assert len(calls) == 1
    # The semantic tier's embedding is the one the router got.
    expected = default_embedder().encode([QUESTION])[0]
    assert float(np.dot(np.asarray(calls[0]["embedding"], dtype=np.float32), expected)) > 0.999
    await stack.stored(tenant, 1)

    before = await stack.sim_requests()
    again = await stack.ask(tenant, QUESTION, model="auto")
    assert again.cache == "exact" and again.text == first.text
    assert "x-router-tier" not in again.headers and "x-router-decision-id" not in again.headers
    assert len(calls) == 1, "an exact hit needs no decision"

    other = await stack.ask(tenant, UNRELATED, model="auto")
    assert other.cache == "miss" and other.headers["x-router-tier"] == "cheap"
    assert len(calls) == 2 and calls[1]["messages"] == [{"role": "user", "content": UNRELATED}]
    assert other.headers["x-router-decision-id"] != first.headers["x-router-decision-id"]
    await stack.stored(tenant, 2)

    paraphrase = await stack.ask(tenant, PARAPHRASE, model="auto")
    assert paraphrase.cache == "semantic" and paraphrase.text == first.text
    assert "x-router-tier" not in paraphrase.headers, "a cache hit is not served by a routed model"
    assert await stack.sim_requests() == before + 1, "only the unrelated miss reached a provider"

    # Asked ahead while the semantic tier searched, then left unused: at most one call for it.
    async def asked_ahead() -> bool:
        return len(calls) == 3

    await wait_for(asked_ahead, timeout_s=5)
    assert calls[2]["messages"] == [{"role": "user", "content": PARAPHRASE}]


async def test_auto_with_the_router_failing_on_a_miss_still_answers_by_the_fallback(stack, cache_router) -> None:
    router, _ = cache_router
    tenant = await stack.tenant()
    router.modes[str(tenant.id)] = "500"
    reply = await stack.ask(tenant, "Solve the equation 3x + 4 = 19 and show each step.", model="auto")
    assert reply.cache == "miss"
    assert reply.headers["x-router-tier"] == "strong", "the rule table: math wants the strong tier"
    assert reply.headers["x-router-decision-id"].startswith("gw-")
