"""Issue 14, acceptance 4 across services: the simulator makes the cheap tier fail on math questions (a fault rule
on the cheap model matching their text: deterministic by content) asked through the gateway with `model="auto"`;
the usage events of those failed requests (status error, carrying the router's decision id) reach the router's
consumer as failures, and math moves off the cheap tier (< 20 %) while writing, asked alongside, stays on it. The
router, its consumer and the gateway are real processes on a private NATS; the simulator is the session's.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from aiaas.roles import process_env
from aiaas_testing import AdminKey, NatsServer, ServiceProcess, TenantWithKey, wait_for
from router.model import write_constant_artifact

MATH = [
    f"Solve the equation {a}x + {b} = {7 * a + b} and show each step."
    for a, b in zip(range(2, 30), range(5, 33), strict=True)
]
WRITING = [f"Write a short poem about autumn number {n} for my sister." for n in range(20)]
# The session stack's catalogue bills both aliases alike ($0.5 in, $1.5 out per 1k tokens: about $1 per 1k for these
# requests). The router learns each tier's metered cost over its estimate, so prices far from the catalogue's would
# be relearned while the test runs; priced as billed, only quality signals move the tiers.
POLICY = {
    "tiers": [
        {"name": "cheap", "alias": "gpt-4o-mini", "price_usd_per_1k": 1.0},
        {"name": "strong", "alias": "gpt-4o", "price_usd_per_1k": 1.0},
    ],
    "lambda": 0.05,
    "exploration_cap": 0.05,
    "early_exit_bar": 0.8,
}


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


async def _tier(client: openai.AsyncOpenAI, question: str) -> str | None:
    """The tier the router chose for one auto request; None when the request failed (the simulator's fault)."""
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": question}], max_tokens=16
        )
    except openai.APIStatusError as exc:
        assert exc.status_code >= 500, exc
        return None
    return raw.headers["x-router-tier"]


async def test_cheap_tier_failures_through_the_gateway_move_math_off_it(
    platform_stack: Callable[..., Any],
    make_admin_key: Callable[..., Awaitable[AdminKey]],
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    provider_sim: str,
    private_nats: NatsServer,
    tmp_path: Path,
) -> None:
    service_key = await make_admin_key()
    artifact = tmp_path / "router-constant.json"
    write_constant_artifact(artifact, {"cheap": 0.85, "strong": 0.95}, version="e2e-bandit")
    stack = platform_stack(
        nats_url=private_nats.url,
        ROUTER_SERVICE_KEY_NAMES=service_key.name,
        ROUTER_ARTIFACT_PATH=str(artifact),
        ROUTER_VERSIONS_FROM_DB="false",
        ROUTER_STATE_CACHE_TTL_S="0",
        ROUTER_DECIDE_DEADLINE_MS="2000",  # a loaded test machine must not turn decisions into fallbacks
        ROUTER_WAL_DIR=str(tmp_path / "router-wal"),
        ROUTER_CONSUMER_METRICS_PORT="0",
        GATEWAY_USAGE_WAL_DIR=str(tmp_path / "gateway-wal"),
        GATEWAY_ROUTER_SERVICE_TOKEN=service_key.key,
        GATEWAY_ROUTER_DEADLINE_MS="2000",
        # The deployment's breaker must not outlive the fault (it would fail the cheap tier for writing too).
        GATEWAY_BREAKER_FAILURE_THRESHOLD="1000",
    )
    router_url = stack.start("router", "router", http=True)
    consumer = ServiceProcess(
        ["-m", "router", "consume"],
        env=process_env("router_consumer", {**os.environ, **stack.env}),
        log_path=tmp_path / "router-consumer.log",
        inherit_env=False,
    ).start()
    try:
        stack.env["GATEWAY_ROUTER_URL"] = str(router_url)
        gateway_url = stack.start("gateway", "gateway", http=True)
        tenant: TenantWithKey = await make_tenant()
        client = openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=tenant.api_key, max_retries=0)
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{router_url}/v1/router/policy", json=POLICY, headers=tenant.auth) as resp:
                assert resp.status == 200, await resp.text()

            # 1. The cheap model fails every math question (by its text) and answers the rest.
            rule = {"model": "sim-mini", "fault": "500", "when_text_contains": "Solve the equation"}
            async with http.post(f"{provider_sim}/_sim/faults", json=rule) as resp:
                assert resp.status == 201
            try:
                learning = [await _tier(client, question) for question in MATH[:8]]
                # The bandit learns while they are asked: once the first failures are counted, math goes strong.
                failures = learning.count(None)
                assert failures >= 1
                assert set(learning) <= {None, "strong"}

                async def counted() -> bool:
                    async with http.get(f"{router_url}/v1/router/bandit", headers=tenant.auth) as resp:
                        arms = {(a["context_key"], a["tier"]): a["failures"] for a in (await resp.json())["data"]}
                    return arms.get(("math", "cheap")) == failures

                await wait_for(counted, timeout_s=60)

                # 2. With the fault still on: math goes to the strong tier, writing stays cheap and is answered.
                math, writing = [], []
                for question, poem in zip(MATH[8:], WRITING, strict=False):
                    math.append(await _tier(client, question))
                    writing.append(await _tier(client, poem))
            finally:
                async with http.delete(f"{provider_sim}/_sim/faults", params={"model": "sim-mini"}) as resp:
                    assert resp.status == 200
        # A math question explored onto the cheap tier fails (None): it counts as cheap.
        assert sum(tier in ("cheap", None) for tier in math) / len(math) < 0.2
        assert None not in writing
        assert writing.count("cheap") / len(writing) >= 0.8
    finally:
        consumer.stop()
