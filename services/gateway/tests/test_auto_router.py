"""AutoRouter in-process over a real HTTP decide endpoint: candidates, the tenant's learned tiers, breaker recovery.

The endpoint is a local aiohttp server speaking the router's contract (the real router service is exercised in
tests/test_router_auto_e2e.py); the breaker's clock is injected, so recovery needs no waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from aiaas.errors import NotFound, ServiceUnavailable
from aiaas.resilience import BreakerConfig, BreakerRegistry, BreakerState
from aiaas_testing import serve_local
from gateway.catalog.schemas import Deployment, ModelAlias
from gateway.catalog.service import Catalog
from gateway.routing.client import RouterClient
from gateway.routing.service import BREAKER_KEY, AutoRouter

TIERS = {"cheap": "mini", "mid": "medium", "strong": "large"}
PLAIN = {"messages": [{"role": "user", "content": "Write a friendly greeting."}]}
MATH = {"messages": [{"role": "user", "content": "Calculate the derivative of x^3 + 2x."}]}


def _alias(name: str) -> ModelAlias:
    dep = Deployment(name=f"{name}-a", provider="openai", model=name, base_url="http://127.0.0.1:9/v1")
    return ModelAlias(name=name, deployments=(dep,))


CATALOG = Catalog([_alias(name) for name in ("mini", "medium", "large", "tenant-mini", "tenant-large")])


@dataclass
class Decide:
    """Answers with `answer` (tier, alias) or `status`; remembers every body."""

    answer: tuple[str, str] = ("cheap", "mini")
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        if self.status != 200:
            return web.json_response({"error": {"type": "api_error", "code": "x", "message": "x"}}, status=self.status)
        tier, alias = self.answer
        return web.json_response(
            {"decision_id": str(uuid.uuid4()), "tier": tier, "model": alias, "reason": "bandit", "canary": False}
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Vector:
    """An EmbeddingSource with a fixed vector."""

    def __init__(self, vector: np.ndarray | None) -> None:
        self.vector = vector
        self.calls = 0

    async def get(self) -> np.ndarray | None:
        self.calls += 1
        return self.vector


@pytest.fixture
async def decide() -> AsyncIterator[tuple[Decide, str]]:
    endpoint = Decide()
    app = web.Application()
    app.router.add_post("/v1/router/decide", endpoint.handle)
    async with serve_local(app) as url:
        yield endpoint, url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _router(http: aiohttp.ClientSession, url: str | None, breakers: BreakerRegistry | None = None) -> AutoRouter:
    breakers = breakers or _breakers(Clock())
    client = RouterClient(url, "sk-admin-x", deadline_s=2.0) if url else None
    return AutoRouter(alias="auto", tiers=TIERS, catalog=CATALOG, breakers=breakers, client=client)


def _breakers(clock: Clock) -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(failure_threshold=1, cooldown_seconds=30), clock=clock)


async def test_the_router_gets_the_request_its_embedding_and_the_allowed_tiers(decide, http) -> None:
    endpoint, url = decide
    router = _router(http, url)
    vector = Vector(np.arange(4, dtype=np.float32) / 4)
    body = {**PLAIN, "tools": [{"type": "function", "function": {"name": "f"}}], "response_format": None}
    routed = await router.decide("t1", body, max_tokens=64, embedding=vector, allowlist=["auto", "mini", "large"])
    assert (routed.tier, routed.alias.name, routed.reason) == ("cheap", "mini", "bandit")
    [sent] = endpoint.bodies
    assert sent == {
        "messages": PLAIN["messages"],
        "tools": body["tools"],
        "max_tokens": 64,
        "candidates": ["cheap", "strong"],
        "embedding": [0.0, 0.25, 0.5, 0.75],
    }
    assert vector.calls == 1

    # Every tier allowed: no candidates; no vector (no user text): no embedding field.
    await router.decide("t1", PLAIN, max_tokens=None, embedding=Vector(None))
    assert endpoint.bodies[1] == {"messages": PLAIN["messages"]}


async def test_an_allowlist_that_leaves_no_tier_is_404(http) -> None:
    router = _router(http, None)
    with pytest.raises(NotFound) as caught:
        await router.decide("t1", PLAIN, max_tokens=None, embedding=None, allowlist=["auto", "something-else"])
    assert caught.value.code == "model_not_found"


async def test_the_fallback_serves_the_tenants_tiers_as_the_router_told_them(decide, http) -> None:
    endpoint, url = decide
    router = _router(http, url)
    endpoint.answer = ("cheap", "tenant-mini")
    assert (await router.decide("t1", PLAIN, max_tokens=None, embedding=None)).alias.name == "tenant-mini"
    endpoint.answer = ("strong", "tenant-large")
    assert (await router.decide("t1", MATH, max_tokens=None, embedding=None)).alias.name == "tenant-large"
    assert router.tier_aliases("t1") == {"cheap": "tenant-mini", "mid": "medium", "strong": "tenant-large"}

    endpoint.status = 503  # the router fails: the table's tier, with this tenant's alias for it
    plain = await router.decide("t1", PLAIN, max_tokens=None, embedding=None)
    assert (plain.tier, plain.alias.name, plain.reason) == ("cheap", "tenant-mini", "fallback")
    # math: demand 1 of 2 -> the middle of three tiers; this tenant never heard of its alias: the default one
    math = await router.decide("t1", MATH, max_tokens=None, embedding=None)
    assert (math.tier, math.alias.name) == ("mid", "medium")
    other = await router.decide("t2", PLAIN, max_tokens=None, embedding=None)
    assert (other.tier, other.alias.name) == ("cheap", "mini")
    assert math.decision_id.startswith("gw-") and math.decision_id != plain.decision_id


async def test_the_breaker_opens_then_a_probe_after_the_cooldown_closes_it(decide, http) -> None:
    endpoint, url = decide
    clock = Clock()
    breakers = _breakers(clock)
    router = _router(http, url, breakers)
    endpoint.status = 500
    assert (await router.decide("t1", PLAIN, max_tokens=None, embedding=None)).reason == "fallback"
    assert breakers.state(BREAKER_KEY) is BreakerState.OPEN
    vector = Vector(np.ones(2, dtype=np.float32))
    assert (await router.decide("t1", PLAIN, max_tokens=None, embedding=vector)).reason == "fallback"
    assert len(endpoint.bodies) == 1 and vector.calls == 0, "open: neither the router nor the embedder is used"

    endpoint.status = 200
    clock.now += 31
    assert (await router.decide("t1", PLAIN, max_tokens=None, embedding=None)).reason == "bandit"
    assert breakers.state(BREAKER_KEY) is BreakerState.CLOSED and len(endpoint.bodies) == 2


async def test_a_rejected_call_is_not_held_against_the_router_but_still_falls_back(decide, http) -> None:
    endpoint, url = decide
    breakers = _breakers(Clock())
    router = _router(http, url, breakers)
    endpoint.status = 422
    for _ in range(3):
        assert (await router.decide("t1", PLAIN, max_tokens=None, embedding=None)).reason == "fallback"
    assert breakers.state(BREAKER_KEY) is BreakerState.CLOSED and len(endpoint.bodies) == 3


async def test_no_tier_alias_served_is_503() -> None:
    breakers = BreakerRegistry()
    router = AutoRouter(alias="auto", tiers={"cheap": "gone"}, catalog=CATALOG, breakers=breakers, client=None)
    assert not router.servable()
    assert AutoRouter(alias="auto", tiers=TIERS, catalog=CATALOG, breakers=breakers, client=None).servable()
    with pytest.raises(ServiceUnavailable):
        await router.decide("t1", PLAIN, max_tokens=None, embedding=None)
