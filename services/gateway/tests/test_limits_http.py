"""Rate limits at the HTTP edge: 429 with Retry-After and x-ratelimit-*; shared across processes."""

from __future__ import annotations

import asyncio

import aiohttp

BODY = {"model": "chat", "messages": [{"role": "user", "content": "count me"}], "max_tokens": 5}


async def _burst(urls: list[str], headers: dict[str, str], n: int) -> list[tuple[int, dict[str, str], dict]]:
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> tuple[int, dict[str, str], dict]:
            async with http.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=BODY, headers=headers) as resp:
                return resp.status, dict(resp.headers), await resp.json(content_type=None)

        return await asyncio.gather(*(one(i) for i in range(n)))


async def test_burst_over_tenant_rpm_gets_429_with_headers(gateway_url, make_tenant):
    tenant = await make_tenant(rate_limit_rpm=5)
    results = await _burst([gateway_url], tenant.auth, 8)
    ok = [r for r in results if r[0] == 200]
    limited = [r for r in results if r[0] == 429]
    assert len(ok) == 5 and len(limited) == 3
    status, headers, body = limited[0]
    assert int(headers["Retry-After"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "rate_limit_exceeded"
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for _, h, _ in ok)
    assert remaining == [0, 1, 2, 3, 4]


async def test_key_tpm_limit_blocks(gateway_url, make_tenant):
    tenant = await make_tenant(key_tpm=30)
    results = await _burst([gateway_url], tenant.auth, 6)
    statuses = [r[0] for r in results]
    assert 429 in statuses and 200 in statuses
    limited = next(r for r in results if r[0] == 429)
    assert limited[1]["x-ratelimit-limit-tokens"] == "30"


async def test_two_gateway_processes_share_the_limit(gateway_url, second_gateway, make_tenant):
    tenant = await make_tenant(rate_limit_rpm=10)
    results = await _burst([gateway_url, second_gateway], tenant.auth, 30)
    assert sum(1 for r in results if r[0] == 200) == 10
    assert sum(1 for r in results if r[0] == 429) == 20
