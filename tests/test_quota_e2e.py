"""Plan quota end to end: billing sets the limit, the gateway enforces it, raising the plan lifts it at once.

A tenant on a plan of N included tokens (overage blocked) is hit by 50 concurrent clients until the gateway
refuses them. The tokens it used end between N and N + what the requests in flight at that moment used;
later requests get 429 `quota_exceeded`; billing's ledger agrees with what the gateway served; a plan
change through billing's API lets the very next requests through (measured, well under a second).
"""

from __future__ import annotations

import asyncio
import secrets
import time

import aiohttp

from aiaas.quota import quota_key

N = 3000
CLIENTS = 50


async def _edge_usage(redis_client, tenant_id) -> tuple[int, int]:
    tokens, requests = await redis_client.hmget(quota_key(tenant_id), "used_tokens", "used_requests")
    return int(tokens), int(requests)


def _plan(code: str, included: int) -> dict[str, object]:
    return {
        "code": code,
        "name": code,
        "included_tokens": included,
        "overage_policy": "block",
        "prices": {"standard": {"input_minor_per_1k": "0.1", "output_minor_per_1k": "0.3"}},
    }


async def test_quota_blocks_at_the_limit_and_a_plan_raise_lifts_it(
    platform_stack, make_tenant, redis_client, admin_headers
):
    stack = platform_stack()
    gateway = stack.start("gateway", "gateway", http=True)
    billing = stack.start("billing", "billing", http=True)
    billing_admin = stack.start("billing-admin", "billing.admin", http=True)
    stack.start("billing-meter", "billing.meter")
    tenant = await make_tenant()
    tiny, big = f"tiny-{secrets.token_hex(3)}", f"big-{secrets.token_hex(3)}"

    async with aiohttp.ClientSession() as http:
        for code, included in ((tiny, N), (big, 10**12)):
            async with http.post(
                f"{billing_admin}/admin/billing/plans", json=_plan(code, included), headers=admin_headers
            ) as r:
                assert r.status == 201, await r.text()
        async with http.put(
            f"{billing_admin}/admin/billing/tenants/{tenant.id}/subscription",
            json={"plan": tiny},
            headers=admin_headers,
        ) as resp:
            assert resp.status == 200, await resp.text()
        assert int(await redis_client.hget(quota_key(tenant.id), "token_limit")) == N

        served: list[int] = []
        refused: list[dict] = []

        async def chat(i: int) -> aiohttp.ClientResponse:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"quota {i} " * 20}]}
            return await http.post(f"{gateway}/v1/chat/completions", json=body, headers=tenant.auth)

        async def client(c: int) -> None:
            i = 0
            while True:
                async with await chat(c * 1000 + i) as resp:
                    if resp.status == 429:
                        refused.append(await resp.json())
                        return
                    assert resp.status == 200, await resp.text()
                    served.append((await resp.json())["usage"]["total_tokens"])
                i += 1

        await asyncio.gather(*(client(c) for c in range(CLIENTS)))
        # Admission reserves each request's estimate, so the burst may be refused a little early while
        # reservations are outstanding; once settled, one client alone uses what is left.
        while True:
            settled = time.monotonic() + 10
            while (await _edge_usage(redis_client, tenant.id)) != (sum(served), len(served)):
                assert time.monotonic() < settled, "the gateway's quota usage did not settle"
                await asyncio.sleep(0.01)
            async with await chat(-3) as resp:
                if resp.status == 429:
                    refused.append(await resp.json())
                    break
                assert resp.status == 200, await resp.text()
                served.append((await resp.json())["usage"]["total_tokens"])

        used = sum(served)
        overshoot = used - N
        print(
            f"\nquota N={N}: served {len(served)} requests, {used} tokens; overshoot {overshoot} tokens"
            f" (bound: {CLIENTS} in flight x {max(served)} tokens = {CLIENTS * max(served)})"
        )
        assert used >= N, "requests were refused before the quota was used up"
        assert await _edge_usage(redis_client, tenant.id) == (used, len(served))
        assert overshoot <= CLIENTS * max(served), "overshoot beyond the requests in flight"
        assert {r["error"]["code"] for r in refused} == {"quota_exceeded"}
        assert "token quota" in refused[0]["error"]["message"]

        async with await chat(-1) as resp:
            assert resp.status == 429
            assert (await resp.json())["error"]["code"] == "quota_exceeded"

        # Billing meters every served request exactly once (from the usage events).
        deadline = time.monotonic() + 60
        while True:
            async with http.get(f"{billing}/v1/billing/usage", headers=tenant.auth) as resp:
                assert resp.status == 200, await resp.text()
                usage = await resp.json()
            billed = int(usage["totals"]["tokens_in"]) + int(usage["totals"]["tokens_out"])
            if billed >= used or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert billed == used
        assert int(usage["totals"]["requests"]) == len(served)

        async with http.post(f"{billing}/v1/billing/subscription", json={"plan": big}, headers=tenant.auth) as resp:
            assert resp.status == 200, await resp.text()
        changed = time.monotonic()
        while True:
            async with await chat(-2) as resp:
                if resp.status == 200:
                    break
                assert resp.status == 429
            await asyncio.sleep(0.02)
        lifted_after = time.monotonic() - changed
        print(f"plan raised: first request served {lifted_after * 1000:.0f} ms after the plan change returned")
        assert lifted_after < 1.0
