"""Issue 14, acceptance 6: `model="auto"` through the openai SDK with the gateway and the router as real processes.

The router decides (its reply's decision id comes back in `x-router-decision-id`, on the usage event and on the
router's own `router.decision.made` event); then the router is stopped and replies still come, by the gateway's
fallback table, never a 5xx; restarted, the router decides again once the gateway's breaker lets a probe through.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import orjson
from nats.aio.client import Client as NatsClient

from aiaas_testing import TenantWithKey, wait_for
from router.model import write_constant_artifact

ROUTER_REASONS = {"early_exit", "classifier", "bandit", "explore", "pinned"}
QUESTIONS = [
    [{"role": "user", "content": "Say hello to the team in one short sentence."}],
    [{"role": "user", "content": "Solve 12 * 7 + 5 and explain the steps."}],
    [{"role": "user", "content": "Write a Python function that reverses a linked list."}],
]


@asynccontextmanager
async def _events(nats: NatsClient, subject: str, key: str) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Events on `subject` while the block runs, by their data's `key` (a redelivery overwrites its copy)."""
    seen: dict[str, dict[str, Any]] = {}

    async def on_message(msg: Any) -> None:
        data = orjson.loads(msg.data)["data"]
        seen[str(data[key])] = data

    sub = await nats.subscribe(subject, cb=on_message)
    try:
        yield seen
    finally:
        await sub.unsubscribe()


async def _ask(client: openai.AsyncOpenAI, messages: list[dict[str, str]], stream: bool) -> tuple[dict[str, str], str]:
    """(response headers, answer text) of one auto request, streamed or not."""
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=messages,
        stream=stream,
        max_tokens=48,  # type: ignore[call-overload]
    )
    if stream:
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in raw.parse() if chunk.choices])
    else:
        text = raw.parse().choices[0].message.content or ""
    return dict(raw.headers), text


async def test_auto_through_the_router_then_with_the_router_stopped(
    platform_stack, make_admin_key, make_tenant, nats_client, tmp_path: Path
) -> None:
    service_key = await make_admin_key()
    # A sealed artifact of the router's own format (fixed p per tier): decisions by the model, not its fallback,
    # whatever versions other suites left active in the shared database.
    artifact = tmp_path / "router-e2e.json"
    write_constant_artifact(artifact, {"cheap": 0.85, "strong": 0.95}, version="e2e-constant")
    stack = platform_stack(
        ROUTER_SERVICE_KEY_NAMES=service_key.name,
        ROUTER_ARTIFACT_PATH=str(artifact),
        ROUTER_VERSIONS_FROM_DB="false",
        ROUTER_WAL_DIR=str(tmp_path / "router-wal"),
        GATEWAY_USAGE_WAL_DIR=str(tmp_path / "gateway-wal"),
        GATEWAY_ROUTER_SERVICE_TOKEN=service_key.key,
        GATEWAY_ROUTER_BREAKER_FAILURE_THRESHOLD="2",
        GATEWAY_ROUTER_BREAKER_COOLDOWN_S="0.5",
        # Generous for a loaded test machine; the benchmark measures the real cost.
        GATEWAY_ROUTER_DEADLINE_MS="2000",
    )
    router_url = stack.start("router", "router", http=True)
    stack.env["GATEWAY_ROUTER_URL"] = str(router_url)
    gateway_url = stack.start("gateway", "gateway", http=True)
    tenant: TenantWithKey = await make_tenant()
    client = openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=tenant.api_key, max_retries=0)

    models = {model.id: model.owned_by for model in (await client.models.list()).data}
    assert models["auto"] == "aiaas-router"

    # 1. The router decides: its decision id is the response's, the usage event's and its own event's.
    usage_subject, decision_subject = f"usage.recorded.{tenant.id}", f"router.decision.made.{tenant.id}"
    async with (
        _events(nats_client, usage_subject, "request_id") as usage,
        _events(nats_client, decision_subject, "decision_id") as decisions,
    ):
        routed = []
        for i, messages in enumerate(QUESTIONS * 2):
            headers, text = await _ask(client, messages, stream=i % 2 == 1)
            assert text, headers
            routed.append(headers)
        await wait_for(lambda: _count(usage, len(routed)), timeout_s=30)
        await wait_for(lambda: _count(decisions, len(routed)), timeout_s=30)
    aliases = {"mini": "gpt-4o-mini", "large": "gpt-4o"}  # deployment -> alias (tests/conftest.py)
    for headers in routed:
        decision_id = headers["x-router-decision-id"]
        assert str(uuid.UUID(decision_id)) == decision_id
        event = usage[headers["x-request-id"]]
        assert event["router_decision_id"] == decision_id and event["status"] == "success"
        assert event["router_reason"] in ROUTER_REASONS
        assert event["router_tier"] == headers["x-router-tier"] == decisions[decision_id]["tier"]
        assert decisions[decision_id]["router_version"] == "e2e-constant"
        assert event["stream"] == (headers["content-type"] != "application/json")
        # Priced as the alias that served (the router's choice); the caller's name kept beside it.
        assert (event["requested_alias"], event["model_alias"]) == ("auto", decisions[decision_id]["model"])
        assert aliases[headers["x-aiaas-deployment"]] == event["model_alias"]

    # 2. The router is stopped: replies still come (the fallback table), streamed too, no 5xx.
    stack.procs["router"].stop()
    async with _events(nats_client, usage_subject, "request_id") as usage:
        fallback = []
        for i, messages in enumerate(QUESTIONS * 2):
            headers, text = await _ask(client, messages, stream=i % 2 == 1)
            assert text, headers
            fallback.append(headers)
        await wait_for(lambda: _count(usage, len(fallback)), timeout_s=30)
    for headers in fallback:
        event = usage[headers["x-request-id"]]
        assert event["router_reason"] == "fallback" and event["status"] == "success"
        assert event["router_decision_id"] == headers["x-router-decision-id"]
        assert headers["x-router-decision-id"].startswith("gw-")
    # The same request, the same fallback tier.
    assert [h["x-router-tier"] for h in fallback[:3]] == [h["x-router-tier"] for h in fallback[3:]]

    # 3. Back again: once the breaker's cool-down lets a probe through, the router decides again.
    stack.restart("router")

    async def routed_again() -> bool:
        headers, _ = await _ask(client, QUESTIONS[0], stream=False)
        return not headers["x-router-decision-id"].startswith("gw-")

    await wait_for(routed_again, timeout_s=60, interval_s=0.2)


async def _count(events: dict[str, dict[str, Any]], n: int) -> bool:
    return len(events) >= n
