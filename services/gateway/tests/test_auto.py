"""`model: "auto"` through the official SDK: the router's choice is served, headers and usage carry the decision.

The router here is a real HTTP server in the test speaking the router's published contract (POST
/v1/router/decide, service credential + tenant id), so each test can make it answer, fail, send nonsense or
hang; the journey against the real router service is tests/test_router_auto_e2e.py. Usage events are read off
NATS as the gateway publishes them.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import openai
import orjson
import pytest
from aiohttp import web
from nats.aio.client import Client as NatsClient

from aiaas_embedder import default_embedder, query_text
from aiaas_testing import ServiceProcess, TenantWithKey, free_port, metric_value, scrape_metrics, serve_local, wait_for

SERVICE_TOKEN = "sk-admin-gateway-auto-tests"
TIERS = {"cheap": "chat", "strong": "claude"}
PLAIN = [{"role": "user", "content": "Say hello to the team."}]
# A math question: the fallback table's demand 1 -> the strong tier of two.
MATH = [{"role": "user", "content": "Solve the equation 3x + 4 = 19 and show each step."}]


@dataclass
class ContractRouter:
    """A decide endpoint per the router's contract; how it answers is chosen per tenant (`modes`)."""

    modes: dict[str, str] = field(default_factory=dict)
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    headers: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    hang: asyncio.Event = field(default_factory=asyncio.Event)

    async def decide(self, request: web.Request) -> web.StreamResponse:
        tenant = request.headers.get("x-aiaas-tenant-id", "")
        self.calls.setdefault(tenant, []).append(await request.json())
        self.headers.setdefault(tenant, []).append(dict(request.headers))
        if request.headers.get("authorization") != f"Bearer {SERVICE_TOKEN}":
            return web.json_response({"error": {"type": "authentication_error", "code": "invalid_api_key"}}, status=401)
        mode = self.modes.get(tenant, "ok")
        if mode == "500":
            return web.json_response({"error": {"type": "api_error", "code": "internal_error"}}, status=500)
        if mode == "garbage":
            return web.Response(body=b'{"decision_id": ', content_type="application/json")
        if mode == "hang":
            await self.hang.wait()
        body = self.calls[tenant][-1]
        tier = "strong" if "strong" in orjson.dumps(body["messages"]).decode() else "cheap"
        if body.get("candidates") and tier not in body["candidates"]:
            tier = body["candidates"][0]
        model = "no-such-alias" if mode == "unknown_alias" else TIERS[tier]
        return web.json_response(
            {
                "decision_id": str(uuid.uuid4()),
                "tier": tier,
                "model": model,
                "p_success": {"cheap": 0.7, "strong": 0.9},
                "expected_cost_usd": 0.0001,
                "reason": "classifier",
                "router_version": "contract-test",
                "canary": False,
            }
        )


@pytest.fixture(scope="module")
async def contract_router() -> AsyncIterator[tuple[ContractRouter, str]]:
    router = ContractRouter()
    app = web.Application()
    app.router.add_post("/v1/router/decide", router.decide)
    async with serve_local(app) as url:
        try:
            yield router, url
        finally:
            router.hang.set()  # hung handlers return, so the server stops at once


def _auto_env(router_url: str, **extra: str) -> dict[str, str]:
    return {
        "GATEWAY_ROUTER_URL": router_url,
        "GATEWAY_ROUTER_SERVICE_TOKEN": SERVICE_TOKEN,
        "GATEWAY_AUTO_TIER_ALIASES": orjson.dumps(TIERS).decode(),
        "GATEWAY_ROUTER_DEADLINE_MS": "300",
        **extra,
    }


@pytest.fixture(scope="module")
def auto_gateway(spawn_gateway, contract_router) -> str:
    return spawn_gateway(name="gateway-auto", **_auto_env(contract_router[1]))


@pytest.fixture(scope="module")
def deaf_gateway(spawn_gateway) -> Iterator[str]:
    """A gateway whose router URL is a port nothing listens on; its auto alias is named `smart`."""
    with _closed_port() as port:
        yield spawn_gateway(
            name="gateway-auto-deaf", **_auto_env(f"http://127.0.0.1:{port}", GATEWAY_AUTO_ALIAS="smart")
        )


@asynccontextmanager
async def _usage_events(nats: NatsClient, tenant: TenantWithKey) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Usage events of `tenant` published while the block runs, by request id."""
    seen: dict[str, dict[str, Any]] = {}

    async def on_message(msg: Any) -> None:
        data = orjson.loads(msg.data)["data"]
        seen[data["request_id"]] = data

    sub = await nats.subscribe(f"usage.recorded.{tenant.id}", cb=on_message)
    try:
        yield seen
    finally:
        await sub.unsubscribe()


def _sdk(url: str, tenant: TenantWithKey) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=tenant.api_key, max_retries=0)


async def test_auto_serves_the_routers_choice_with_headers_and_usage(
    auto_gateway, contract_router, tenant, nats_client
) -> None:
    router, _ = contract_router
    client = _sdk(auto_gateway, tenant)
    async with _usage_events(nats_client, tenant) as events:
        raw = await client.chat.completions.with_raw_response.create(model="auto", messages=PLAIN, max_tokens=32)
        reply = raw.parse()
        strong = await client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "strong: prove it"}]
        )
        await wait_for(lambda: _n(events, 2), timeout_s=20)

    assert reply.choices[0].message.content
    assert raw.headers["x-router-tier"] == "cheap" and raw.headers["x-aiaas-deployment"] == "chat-a"
    assert strong.headers["x-router-tier"] == "strong" and strong.headers["x-aiaas-deployment"] == "claude-a"
    decision_id = raw.headers["x-router-decision-id"]
    assert str(uuid.UUID(decision_id)) == decision_id
    event = events[raw.headers["x-request-id"]]
    assert (event["router_decision_id"], event["router_tier"], event["router_reason"]) == (
        decision_id,
        "cheap",
        "classifier",
    )
    assert (event["requested_alias"], event["model_alias"], event["deployment"]) == ("auto", "chat", "chat-a")
    assert event["status"] == "success"
    assert event["tokens_out"] == reply.usage.completion_tokens
    assert events[strong.headers["x-request-id"]]["router_tier"] == "strong"
    assert events[strong.headers["x-request-id"]]["model_alias"] == "claude"

    # What the router was asked: the request's messages and max_tokens, as the gateway, for this tenant.
    [first, second] = router.calls[str(tenant.id)]
    assert first["messages"] == PLAIN and first["max_tokens"] == 32
    assert "candidates" not in first and "max_tokens" not in second
    # The request's one embedding (the semantic cache's) goes along: the embedder's vector of the last user text.
    expected = default_embedder().encode([query_text(PLAIN) or ""])[0]
    assert len(first["embedding"]) == 384
    assert float(np.dot(np.asarray(first["embedding"], dtype=np.float32), expected)) > 0.999
    assert router.headers[str(tenant.id)][0]["Authorization"] == f"Bearer {SERVICE_TOKEN}"


async def test_auto_streams_with_headers_and_usage(auto_gateway, tenant, nats_client) -> None:
    client = _sdk(auto_gateway, tenant)
    async with _usage_events(nats_client, tenant) as events:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=PLAIN, stream=True, stream_options={"include_usage": True}
        )
        parts, usage = [], None
        async for chunk in raw.parse():
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
            if chunk.usage is not None:
                usage = chunk.usage
        await wait_for(lambda: _n(events, 1), timeout_s=20)

    assert "".join(parts) and usage is not None and usage.completion_tokens > 0
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-router-tier"] == "cheap"
    event = events[raw.headers["x-request-id"]]
    assert event["stream"] is True and event["router_decision_id"] == raw.headers["x-router-decision-id"]
    assert event["router_reason"] == "classifier" and event["tokens_out"] == usage.completion_tokens


@pytest.mark.parametrize("mode", ["500", "garbage", "unknown_alias"])
async def test_a_failed_decision_falls_back_to_the_rule_table(
    auto_gateway, contract_router, make_tenant, nats_client, mode: str
) -> None:
    router, _ = contract_router
    tenant = await make_tenant()
    router.modes[str(tenant.id)] = mode
    client = _sdk(auto_gateway, tenant)
    async with _usage_events(nats_client, tenant) as events:
        plain = await client.chat.completions.with_raw_response.create(model="auto", messages=PLAIN)
        math = await client.chat.completions.with_raw_response.create(model="auto", messages=MATH)
        await wait_for(lambda: _n(events, 2), timeout_s=20)

    assert len(router.calls[str(tenant.id)]) == 2, "the router was asked each time"
    assert plain.parse().choices[0].message.content and math.parse().choices[0].message.content
    # The fallback table: a plain request -> the cheapest tier, a math one -> the strong tier (its alias: claude).
    assert (plain.headers["x-router-tier"], plain.headers["x-aiaas-deployment"]) == ("cheap", "chat-a")
    assert (math.headers["x-router-tier"], math.headers["x-aiaas-deployment"]) == ("strong", "claude-a")
    for raw in (plain, math):
        event = events[raw.headers["x-request-id"]]
        assert event["router_reason"] == "fallback" and event["status"] == "success"
        assert event["router_decision_id"] == raw.headers["x-router-decision-id"]
        assert event["router_decision_id"].startswith("gw-")
    assert plain.headers["x-router-decision-id"] != math.headers["x-router-decision-id"]


async def test_auto_is_listed_as_the_routers_alias(auto_gateway, tenant) -> None:
    models = await _sdk(auto_gateway, tenant).models.list()
    listed = {model.id: model.owned_by for model in models.data}
    assert listed["auto"] == "aiaas-router"
    assert listed["chat"] == "aiaas" and listed["claude"] == "aiaas"


async def test_auto_is_not_listed_where_none_of_its_tiers_is_served(client) -> None:
    """The shared test gateway keeps the default tier map (gpt-4o-mini, gpt-4o), aliases its catalog lacks."""
    assert "auto" not in {model.id for model in (await client.models.list()).data}


async def test_no_router_listening_still_answers_by_fallback(deaf_gateway, tenant, nats_client) -> None:
    client = _sdk(deaf_gateway, tenant)
    async with _usage_events(nats_client, tenant) as events:
        raw = await client.chat.completions.with_raw_response.create(model="smart", messages=MATH)
        stream = await client.chat.completions.with_raw_response.create(model="smart", messages=PLAIN, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream.parse() if chunk.choices])
        await wait_for(lambda: _n(events, 2), timeout_s=20)

    assert raw.parse().choices[0].message.content and text
    assert (raw.headers["x-router-tier"], stream.headers["x-router-tier"]) == ("strong", "cheap")
    assert {events[r.headers["x-request-id"]]["router_reason"] for r in (raw, stream)} == {"fallback"}


async def test_a_hanging_router_opens_the_breaker_and_is_not_called_again(
    spawn_gateway, contract_router, make_tenant, metrics_of
) -> None:
    router, url = contract_router
    gateway = spawn_gateway(
        name="gateway-auto-hang",
        **_auto_env(
            url,
            GATEWAY_ROUTER_DEADLINE_MS="200",
            GATEWAY_ROUTER_BREAKER_FAILURE_THRESHOLD="2",
            GATEWAY_ROUTER_BREAKER_COOLDOWN_S="600",
        ),
    )
    tenant = await make_tenant()
    router.modes[str(tenant.id)] = "hang"
    client = _sdk(gateway, tenant)
    tiers = []
    for _ in range(6):
        raw = await client.chat.completions.with_raw_response.create(model="auto", messages=PLAIN)
        assert raw.parse().choices[0].message.content
        tiers.append(raw.headers["x-router-tier"])
    assert tiers == ["cheap"] * 6
    assert len(router.calls[str(tenant.id)]) == 2, "after two timeouts the breaker stops calling the router"

    metrics = await scrape_metrics(metrics_of(gateway))
    assert metric_value(metrics, "gateway_auto_fallbacks_total", cause="deadline") == 2
    assert metric_value(metrics, "gateway_auto_fallbacks_total", cause="breaker_open") == 4
    assert metric_value(metrics, "circuit_breaker_state", key="router") == 2


async def test_the_auto_alias_is_the_configured_name(deaf_gateway, tenant) -> None:
    client = _sdk(deaf_gateway, tenant)
    listed = {model.id: model.owned_by for model in (await client.models.list()).data}
    assert listed["smart"] == "aiaas-router" and "auto" not in listed
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="auto", messages=PLAIN)
    plain = await client.chat.completions.with_raw_response.create(model="chat", messages=PLAIN)
    assert "x-router-tier" not in plain.headers and plain.headers["x-aiaas-deployment"] == "chat-a"


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=control_plane_env,
        log_path=run_dir / f"control-plane-auto-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


async def test_a_model_allowlist_limits_the_tiers(
    auto_gateway, contract_router, control_plane, make_tenant, admin_headers
) -> None:
    router, _ = contract_router
    tenant = await make_tenant()
    client = _sdk(auto_gateway, tenant)
    strong = [{"role": "user", "content": "strong: a hard one"}]

    async def allow(aliases: list[str]) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.put(
                f"{control_plane}/admin/flags/model_allowlist/tenants/{tenant.id}",
                json={"value": aliases, "reason": "test: auto tiers"},
                headers=admin_headers,
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()

    # Only the cheap tier's alias allowed: the router is offered that tier alone, and its answer is served.
    await allow(["auto", "chat"])

    async def limited() -> bool:
        raw = await client.chat.completions.with_raw_response.create(model="auto", messages=strong)
        return raw.headers["x-router-tier"] == "cheap" and raw.headers["x-aiaas-deployment"] == "chat-a"

    await wait_for(limited, timeout_s=10, interval_s=0.05)
    assert router.calls[str(tenant.id)][-1]["candidates"] == ["cheap"]
    # The router failing, the fallback table stays inside the allowed tiers too (math would take the strong one).
    router.modes[str(tenant.id)] = "500"
    raw = await client.chat.completions.with_raw_response.create(model="auto", messages=MATH)
    assert (raw.headers["x-router-tier"], raw.headers["x-aiaas-deployment"]) == ("cheap", "chat-a")
    assert raw.headers["x-router-decision-id"].startswith("gw-")

    # An allowlist naming auto but no tier's alias: 404, as for any model the tenant may not use.
    await allow(["auto", "claude-but-not-a-tier"])

    async def refused() -> bool:
        try:
            await client.chat.completions.create(model="auto", messages=PLAIN)
        except openai.NotFoundError as exc:
            return exc.code == "model_not_found"
        return False

    await wait_for(refused, timeout_s=10, interval_s=0.05)


async def _n(events: dict[str, dict[str, Any]], count: int) -> bool:
    return len(events) >= count


@contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port held (bound, never listening) while the block runs: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
