"""Acceptance 1: POST /v1/router/decide returns the documented JSON, is deterministic at exploration 0, and every
bad input is a 4xx JSON error; who may call it; the policy API; tenant isolation (RLS)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas_testing import AdminKey, TenantWithKey, metric_value, scrape_metrics, wait_for

from .factories import CONSTANT_P, RouterProcess, body, decide, policy, put_policy

DOCUMENTED = {"decision_id", "tier", "model", "p_success", "expected_cost_usd", "reason", "router_version", "canary"}
REASONS = {"early_exit", "classifier", "bandit", "explore", "fallback", "pinned"}


def _assert_error(status: int, data: dict[str, Any], expected_status: int, code: str | None = None) -> None:
    assert status == expected_status, data
    assert set(data) == {"error"}
    assert {"type", "code", "message"} <= set(data["error"])
    if code is not None:
        assert data["error"]["code"] == code, data


async def test_decide_returns_the_documented_json(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    await put_policy(http, router.url, tenant.auth)
    data = await decide(http, router.url, tenant.auth, body("Write a short poem about the sea."))
    assert set(data) == DOCUMENTED
    uuid.UUID(data["decision_id"])
    # The constant model: cheap 0.85 clears the policy's early-exit bar 0.8.
    assert (data["tier"], data["model"], data["reason"]) == ("cheap", "gpt-4o-mini", "early_exit")
    assert data["p_success"] == CONSTANT_P
    assert data["router_version"] == "test-constant"
    assert data["canary"] is False
    assert 0 < data["expected_cost_usd"] < 0.001


async def test_the_decision_minimises_cost_plus_lambda_error(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    prompt = body("Write a short poem about the sea.", max_tokens=100)
    # Bar out of reach: cheap costs 0.0006 $/1k, strong 0.01 $/1k; error 0.15 vs 0.05.
    await put_policy(http, router.url, tenant.auth, early_exit_bar=1.0, **{"lambda": 0.05})
    strong = await decide(http, router.url, tenant.auth, prompt)
    assert (strong["tier"], strong["reason"]) == ("strong", "classifier")
    await put_policy(http, router.url, tenant.auth, early_exit_bar=1.0, **{"lambda": 0.001})
    cheap = await decide(http, router.url, tenant.auth, prompt)
    assert (cheap["tier"], cheap["reason"]) == ("cheap", "classifier")
    # The request's own lambda overrides the policy's; candidates and max_cost_usd narrow the tiers.
    assert (await decide(http, router.url, tenant.auth, {**prompt, "lambda": 1.0}))["tier"] == "strong"
    only_cheap = await decide(http, router.url, tenant.auth, {**prompt, "lambda": 1.0, "candidates": ["cheap"]})
    assert only_cheap["tier"] == "cheap"
    capped = await decide(http, router.url, tenant.auth, {**prompt, "lambda": 1.0, "max_cost_usd": 0.0005})
    assert capped["tier"] == "cheap" and capped["expected_cost_usd"] <= 0.0005
    await put_policy(http, router.url, tenant.auth, pinned_tier="strong")
    pinned = await decide(http, router.url, tenant.auth, prompt)
    assert (pinned["tier"], pinned["reason"], pinned["p_success"]) == ("strong", "pinned", {})


async def test_same_input_same_decision_at_exploration_zero(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    await put_policy(http, router.url, tenant.auth, exploration_cap=0.0, early_exit_bar=0.9)
    for prompt in ("Write a short poem about the sea.", "Solve 3x + 4 = 19.", "Translate 'hello' into French."):
        first = await decide(http, router.url, tenant.auth, body(prompt))
        for _ in range(3):
            again = await decide(http, router.url, tenant.auth, body(prompt))
            assert again["decision_id"] != first["decision_id"]
            assert {k: v for k, v in again.items() if k != "decision_id"} == {
                k: v for k, v in first.items() if k != "decision_id"
            }


async def test_bad_input_is_a_4xx_json_error(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    good = body("hello")
    cases: list[tuple[Any, int, str | None]] = [
        ({"messages": []}, 422, None),
        ({"messages": "hello"}, 422, None),
        ({}, 422, None),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 422, None),
        ({"messages": [{"role": "user", "content": 5}]}, 422, None),
        ({**good, "candidates": ["premium"]}, 422, "unknown_tier"),
        ({**good, "candidates": ["NOT A TIER"]}, 422, None),
        ({**good, "candidates": []}, 422, None),
        ({**good, "lambda": -0.1}, 422, None),
        ({**good, "max_cost_usd": -1}, 422, None),
        ({**good, "max_cost_usd": "cheap"}, 422, None),
        ({**good, "max_cost_usd": 0.0}, 422, "max_cost_too_low"),
        ({**good, "max_tokens": "many"}, 422, None),
        ({**good, "max_tokens": 0}, 422, None),
        ({**good, "tools": {"not": "a list"}}, 422, None),
        ({**good, "embedding": [0.1] * 10}, 422, None),
        ({**good, "embedding": ["x"] * 384}, 422, None),
        ([good], 422, None),
        ({**good, "conversation_key": "has spaces and \x00"}, 422, None),
    ]
    for payload, status, code in cases:
        async with http.post(f"{router.url}/v1/router/decide", json=payload, headers=tenant.auth) as resp:
            _assert_error(resp.status, await resp.json(), status, code)
    # A money field's old name is refused with its new name, never guessed.
    async with http.post(f"{router.url}/v1/router/decide", json={**good, "max_cost": 1}, headers=tenant.auth) as resp:
        refused = await resp.json()
        _assert_error(resp.status, refused, 422)
        assert "max_cost_usd" in refused["error"]["message"], refused
    raw_cases = [
        (b'{"messages": [', 400),  # not JSON
        (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', 400),  # a lone surrogate: not valid JSON text
        (b'{"messages": [{"role": "user", "content": "hi"}], "lambda": NaN}', 400),
        (b'{"messages": [{"role": "user", "content": "' + b"x" * (5 * 1024 * 1024) + b'"}]}', 413),
    ]
    headers = {**tenant.auth, "Content-Type": "application/json"}
    for raw, status in raw_cases:
        async with http.post(f"{router.url}/v1/router/decide", data=raw, headers=headers) as resp:
            _assert_error(resp.status, await resp.json(), status)


async def test_who_may_decide(
    router: RouterProcess,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    make_admin_key: Callable[..., Awaitable[AdminKey]],
    service_key: AdminKey,
    http: aiohttp.ClientSession,
) -> None:
    tenant = await make_tenant()
    chat_only = await make_tenant(scopes=["chat"])
    other_admin = await make_admin_key()
    url, payload = f"{router.url}/v1/router/decide", body("hello")
    async with http.post(url, json=payload) as resp:
        _assert_error(resp.status, await resp.json(), 401)
    async with http.post(url, json=payload, headers=chat_only.auth) as resp:
        _assert_error(resp.status, await resp.json(), 403, "insufficient_scope")
    service = {**service_key.auth, "x-aiaas-tenant-id": str(tenant.id)}
    data = await decide(http, router.url, service, payload)
    assert set(data) == DOCUMENTED
    async with http.post(url, json=payload, headers=service_key.auth) as resp:
        _assert_error(resp.status, await resp.json(), 400, "missing_tenant_id")
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        async with http.post(url, json=payload, headers={**service_key.auth, "x-aiaas-tenant-id": bad}) as resp:
            _assert_error(resp.status, await resp.json(), 400)
    async with http.post(url, json=payload, headers={**other_admin.auth, "x-aiaas-tenant-id": str(tenant.id)}) as resp:
        _assert_error(resp.status, await resp.json(), 403, "not_a_service_key")


async def test_policy_api_and_validation(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    url = f"{router.url}/v1/router/policy"
    async with http.get(url, headers=tenant.auth) as resp:
        default = await resp.json()
    assert resp.status == 200 and default["source"] == "platform"
    assert [t["name"] for t in default["tiers"]] == ["cheap", "strong"]
    assert default["exploration_cap"] == 0.05
    bad = [
        policy(tiers=[]),
        policy(pinned_tier="premium"),
        policy(exploration_cap=1.5),
        policy(**{"lambda": -1}),
        policy(
            tiers=[
                {"name": "cheap", "alias": "a", "price_usd_per_1k": 1},
                {"name": "cheap", "alias": "b", "price_usd_per_1k": 2},
            ]
        ),
    ]
    for payload in bad:
        async with http.put(url, json=payload, headers=tenant.auth) as resp:
            _assert_error(resp.status, await resp.json(), 422)
    await put_policy(http, router.url, tenant.auth, exploration_cap=0.02)
    async with http.get(url, headers=tenant.auth) as resp:
        mine = await resp.json()
    assert (mine["source"], mine["exploration_cap"], mine["lambda"]) == ("tenant", 0.02, 0.05)


async def test_a_tenant_sees_only_its_own_decisions_and_policy(
    router: RouterProcess,
    consumer: str,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    runtime_sessions: async_sessionmaker[AsyncSession],
    http: aiohttp.ClientSession,
) -> None:
    a, b = await make_tenant(), await make_tenant()
    await put_policy(http, router.url, a.auth, exploration_cap=0.01)
    made = await decide(http, router.url, a.auth, body("Write a haiku about tea."))

    async def listed(tenant: TenantWithKey) -> list[str]:
        async with http.get(f"{router.url}/v1/router/decisions", headers=tenant.auth) as resp:
            assert resp.status == 200
            return [row["id"] for row in (await resp.json())["data"]]

    await wait_for(lambda: _contains(listed(a), made["decision_id"]), timeout_s=30)
    assert await listed(b) == []
    async with http.get(f"{router.url}/v1/router/policy", headers=b.auth) as resp:
        assert (await resp.json())["source"] == "platform"
    # B's feedback on A's decision is stored under B and never reaches A's decision or arms.
    fb = {"decision_id": made["decision_id"], "outcome": "failure", "signal_id": "probe"}
    async with http.post(f"{router.url}/v1/feedback", json=fb, headers=b.auth) as resp:
        assert (await resp.json())["applied"] is False
    async with tenant_session(runtime_sessions, b.id) as session:
        for table in ("router_decisions", "router_policies", "router_bandit_arms"):
            count = await session.execute(text(f"select count(*) from {table} where tenant_id = :a"), {"a": a.id})
            assert count.scalar_one() == 0, table
    async with tenant_session(runtime_sessions, a.id) as session:
        seen = await session.execute(
            text("select count(*) from router_decisions where id = :id"), {"id": made["decision_id"]}
        )
        assert seen.scalar_one() == 1
        rewards = await session.execute(text("select count(*) from router_rewards"))
        assert rewards.scalar_one() == 0


async def _contains(rows: Awaitable[list[str]], item: str) -> bool:
    return item in await rows


@pytest.mark.parametrize("path", ["/v1/router/policy", "/v1/router/decisions", "/v1/router/bandit"])
async def test_tenant_routes_need_the_router_scope(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession, path: str
) -> None:
    chat_only = await make_tenant(scopes=["chat"])
    async with http.get(f"{router.url}{path}", headers=chat_only.auth) as resp:
        _assert_error(resp.status, await resp.json(), 403, "insufficient_scope")


async def test_exploration_stays_within_the_allowed_tiers_and_is_counted(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    await put_policy(http, router.url, tenant.auth, exploration_cap=1.0)
    before = metric_value(await scrape_metrics(router.metrics_url), "router_explorations_total")
    explored = [await decide(http, router.url, tenant.auth, body(f"Tell me a fact about bird {n}.")) for n in range(24)]
    assert {d["reason"] for d in explored} == {"explore"}
    assert {d["tier"] for d in explored} == {"cheap", "strong"}  # Thompson draws, not one fixed tier
    again = await decide(http, router.url, tenant.auth, body("Tell me a fact about bird 0."))
    assert (again["tier"], again["reason"]) == (explored[0]["tier"], "explore")  # seeded by the inputs
    after = metric_value(await scrape_metrics(router.metrics_url), "router_explorations_total")
    assert after - before == len(explored) + 1
    # Never outside the allowed tiers or over max_cost_usd, whatever the draw.
    for n in range(12):
        only = await decide(
            http, router.url, tenant.auth, body(f"Tell me a fact about bird {n}.", candidates=["cheap"])
        )
        capped = await decide(
            http, router.url, tenant.auth, body(f"Tell me a fact about bird {n}.", max_cost_usd=0.001)
        )
        assert only["tier"] == capped["tier"] == "cheap"
        assert capped["expected_cost_usd"] <= 0.001
