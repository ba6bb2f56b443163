"""Usage exactly once across services: gateway `requests` rows = billed tokens = analytics totals.

A few thousand requests (plain, streaming, some cancelled by the client) go through the gateway for three
tenants while, one after another, NATS is stopped and restarted, the billing meter is SIGKILLed and
restarted, and the analytics consumer is SIGKILLed and restarted. Afterwards, for every tenant, the
tokens in the gateway's `requests` rows, in billing's ledger and counters, and in analytics' KPI totals
are the same numbers, and no usage event is counted twice anywhere.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

import aiohttp
import pytest
from sqlalchemy import text

from aiaas import clock
from aiaas.db import tenant_session
from aiaas_testing import NatsServer

TOTAL = 2400
CONCURRENCY = 24
TENANTS = 3


@pytest.fixture
def private_nats(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


async def _one(http: aiohttp.ClientSession, url: str, auth: dict[str, str], i: int) -> str:
    kind = ("plain", "stream", "plain", "cancel")[i % 4]
    body: dict[str, object] = {
        "model": ("gpt-4o-mini", "gpt-4o")[i % 2],
        "messages": [{"role": "user", "content": f"exactly once {i} " * (1 + i % 7)}],
    }
    if kind != "plain":
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=auth) as resp:
        assert resp.status == 200, await resp.text()
        if kind == "cancel":
            await resp.content.readline()
            resp.close()  # the client walks away mid-stream
        else:
            await resp.read()
        return resp.headers["x-request-id"]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "the services did not converge in time"
        await asyncio.sleep(0.5)


async def test_usage_counted_once_in_gateway_billing_and_analytics(
    platform_stack, private_nats, make_tenant, runtime_sessions, admin_headers
):
    stack = platform_stack(nats_url=private_nats.url, GATEWAY_PUBLISH_TIMEOUT_S="0.5")
    gateway = stack.start("gateway", "gateway", http=True)
    stack.start("usage-writer", "gateway.usage_writer")
    stack.start("outbox-relay", "gateway.outbox_relay")
    stack.start("billing-meter", "billing.meter")
    stack.start("analytics-consumer", "analytics.consumer")
    analytics = stack.start("analytics", "analytics", http=True)
    billing = stack.start("billing", "billing", http=True)
    billing_admin = stack.start("billing-admin", "billing.admin", http=True)
    assert gateway and analytics and billing and billing_admin

    tenants = [await make_tenant() for _ in range(TENANTS)]
    async with aiohttp.ClientSession() as http:
        for tenant in tenants:  # a plan whose quota this volume cannot reach: the test is about counting
            url = f"{billing_admin}/admin/billing/tenants/{tenant.id}/subscription"
            async with http.put(url, json={"plan": "enterprise"}, headers=admin_headers) as resp:
                assert resp.status == 200, await resp.text()
    served: dict[str, int] = {}  # request id -> tenant index
    queue = list(range(TOTAL))
    random.Random(11).shuffle(queue)
    done = 0

    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            nonlocal done
            while queue:
                i = queue.pop()
                tenant = i % TENANTS
                served[await _one(http, gateway, tenants[tenant].auth, i)] = tenant
                done += 1

        async def at(fraction: float) -> None:
            while done < TOTAL * fraction:
                await asyncio.sleep(0.01)

        async def outboxed_for_every_tenant() -> bool:
            for tenant in tenants:
                async with tenant_session(runtime_sessions, tenant.id) as session:
                    query = text("select count(*) from event_outbox where subject like 'usage.%'")
                    if (await session.execute(query)).scalar_one() == 0:
                        return False
            return True

        async def chaos() -> None:
            await at(0.15)
            private_nats.stop()
            await at(0.30)
            # The outage lasts until every tenant's usage went through the outbox: counted in requests alone,
            # a fast gateway could serve the window's requests before their batch left the emitter.
            await _eventually(outboxed_for_every_tenant, timeout_s=30)
            private_nats.start()
            await at(0.45)
            stack.kill("billing-meter")
            await at(0.60)
            stack.restart("billing-meter")
            await at(0.70)
            stack.kill("analytics-consumer")
            await at(0.85)
            stack.restart("analytics-consumer")

        await asyncio.gather(chaos(), *(worker() for _ in range(CONCURRENCY)))
    assert len(served) == TOTAL

    async def gateway_totals(tenant) -> tuple[int, int]:
        async with tenant_session(runtime_sessions, tenant.id) as session:
            row = (
                await session.execute(
                    text("select count(*) as n, coalesce(sum(tokens_in + tokens_out), 0) as tokens from requests")
                )
            ).one()
        return int(row.n), int(row.tokens)

    async def billing_totals(tenant) -> tuple[int, int, int]:
        async with tenant_session(runtime_sessions, tenant.id) as session:
            ledger = (
                await session.execute(
                    text(
                        "select count(*) as n, count(distinct event_id) as events,"
                        " coalesce(sum(tokens_in + tokens_out), 0) as tokens from usage_ledger"
                    )
                )
            ).one()
            counted = (
                await session.execute(
                    text(
                        "select coalesce(sum(quantity), 0) from usage_counters"
                        " where meter in ('tokens_in', 'tokens_out')"
                    )
                )
            ).scalar_one()
        assert ledger.n == ledger.events, "a usage event in the ledger twice"
        return int(ledger.n), int(ledger.tokens), int(counted)

    async def analytics_totals(tenant) -> tuple[int, int]:
        # The gateway stamps usage with aiaas.clock: the window is around the same clock.
        today = clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        window = {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=2)).isoformat()}
        params = {**window, "granularity": "day"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{analytics}/v1/analytics/kpis", params=params, headers=tenant.auth) as resp,
        ):
            assert resp.status == 200, await resp.text()
            totals = (await resp.json())["totals"]
        return int(totals["requests"]), int(totals["tokens_in"]) + int(totals["tokens_out"])

    async def converged() -> bool:
        for index, tenant in enumerate(tenants):
            expected = sum(1 for t in served.values() if t == index)
            if (await gateway_totals(tenant))[0] < expected:
                return False
            if (await billing_totals(tenant))[0] < expected:
                return False
            if (await analytics_totals(tenant))[0] < expected:
                return False
        return True

    await _eventually(converged)
    for index, tenant in enumerate(tenants):
        expected = sum(1 for t in served.values() if t == index)
        rows, gateway_tokens = await gateway_totals(tenant)
        ledger_rows, billed_tokens, counter_tokens = await billing_totals(tenant)
        analytics_requests, analytics_tokens = await analytics_totals(tenant)
        print(
            f"\ntenant {index}: requests served={expected} gateway rows={rows} ledger rows={ledger_rows}"
            f" analytics requests={analytics_requests} | tokens: gateway={gateway_tokens}"
            f" billed={billed_tokens} (counters {counter_tokens}) analytics={analytics_tokens}"
        )
        async with tenant_session(runtime_sessions, tenant.id) as session:
            via_outbox = (
                await session.execute(text("select count(*) from event_outbox where subject like 'usage.%'"))
            ).scalar_one()
        print(f"tenant {index}: usage events that waited in the outbox during the NATS outage: {via_outbox}")
        assert rows == ledger_rows == analytics_requests == expected
        assert gateway_tokens == billed_tokens == counter_tokens == analytics_tokens
        assert gateway_tokens > 0
        assert via_outbox > 0, "the NATS outage must have sent usage through the outbox"
