"""Metering exactly once: a few hundred requests while NATS is stopped and restarted mid-run.

Afterwards: requests served = rows in `requests` = usage events in the stream,
none counted twice, tokens and cost equal to what the provider reported, and a plain answer's
`x-aiaas-cost-usd` header equal to the cost billed.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import aiohttp
import nats
import orjson
import pytest
from sqlalchemy import text

from aiaas.db import tenant_session
from aiaas_testing import NatsServer, ServiceProcess

TOTAL = 300
CONCURRENCY = 16
PRICE_IN, PRICE_OUT = Decimal("0.5"), Decimal("1.5")


@pytest.fixture
def private_nats(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def metering_stack(private_nats, spawn_gateway, run_dir, gateway_base_env):
    env = {"NATS_URL": private_nats.url, "GATEWAY_PUBLISH_TIMEOUT_S": "0.5"}
    url = spawn_gateway(name="gateway-metering", **env)
    base_env = {**gateway_base_env, **env}
    writer = ServiceProcess(
        ["-m", "gateway.usage_writer"], env=base_env, log_path=run_dir / "writer-metering.log"
    ).start()
    relay = ServiceProcess(
        ["-m", "gateway.outbox_relay"], env=base_env, log_path=run_dir / "relay-metering.log"
    ).start()
    yield url
    writer.stop()
    relay.stop()


async def _one(http, url, headers, i: int, seen: dict[str, dict]) -> None:
    kind = ("plain", "stream", "stream", "cancel")[i % 4]
    body = {
        "model": "chat",
        "messages": [{"role": "user", "content": f"metering request {i} " * (1 + i % 5)}],
    }
    if kind == "plain":
        async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            usage = (await resp.json())["usage"]
            seen[resp.headers["x-request-id"]] = {
                "kind": kind,
                "in": usage["prompt_tokens"],
                "out": usage["completion_tokens"],
                "cost_header": resp.headers["x-aiaas-cost-usd"],
            }
        return
    body |= {"stream": True, "stream_options": {"include_usage": True}}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert "x-aiaas-cost-usd" not in resp.headers  # a stream's headers leave before its usage is known
        rid = resp.headers["x-request-id"]
        if kind == "cancel":
            await resp.content.readline()
            resp.close()  # the client walks away mid-stream
            seen[rid] = {"kind": kind}
            return
        usage = None
        async for line in resp.content:
            if line.startswith(b"data: {") and b'"usage":{' in line:
                usage = orjson.loads(line[6:])["usage"]
        assert usage is not None
        seen[rid] = {"kind": kind, "in": usage["prompt_tokens"], "out": usage["completion_tokens"]}


async def test_exactly_once_across_a_nats_restart(metering_stack, private_nats, make_tenant, runtime_sessions):
    url = metering_stack
    tenant = await make_tenant()
    seen: dict[str, dict] = {}
    queue = list(range(TOTAL))
    random.Random(7).shuffle(queue)
    done = 0

    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            nonlocal done
            while queue:
                i = queue.pop()
                await _one(http, url, tenant.auth, i, seen)
                done += 1

        async def chaos() -> None:
            while done < TOTAL // 3:
                await asyncio.sleep(0.01)
            private_nats.stop()
            while done < 2 * TOTAL // 3:
                await asyncio.sleep(0.01)
            private_nats.start()

        await asyncio.gather(chaos(), *(worker() for _ in range(CONCURRENCY)))

    assert len(seen) == TOTAL
    rows = []
    for _ in range(600):
        async with tenant_session(runtime_sessions, tenant.id) as session:
            rows = (
                await session.execute(text("select request_id, status, tokens_in, tokens_out, cost_usd from requests"))
            ).all()
        if len(rows) >= TOTAL:
            break
        await asyncio.sleep(0.1)
    by_id = {row.request_id: row for row in rows}

    # The relay marks rows published in its own transaction after the publish is acked: poll for it.
    for _ in range(300):
        async with tenant_session(runtime_sessions, tenant.id) as session:
            outboxed = (await session.execute(text("select count(*) from event_outbox"))).scalar_one()
            unpublished = (
                await session.execute(text("select count(*) from event_outbox where published_at is null"))
            ).scalar_one()
        if unpublished == 0:
            break
        await asyncio.sleep(0.1)

    nc = await nats.connect(private_nats.url)
    try:
        info = await nc.jetstream().stream_info("USAGE", subjects_filter=f"usage.recorded.{tenant.id}")
        in_stream = sum((info.state.subjects or {}).values())
    finally:
        await nc.close()

    print(f"\nserved={len(seen)} rows={len(rows)} events_in_stream={in_stream} via_outbox={outboxed}")
    assert len(rows) == len(by_id) == TOTAL, "one row per request, none twice"
    assert set(by_id) == set(seen)
    assert in_stream == TOTAL
    assert outboxed > 0, "the NATS outage must have exercised the outbox"
    assert unpublished == 0
    for rid, client in seen.items():
        row = by_id[rid]
        if client["kind"] == "cancel":
            assert row.status in ("cancelled", "success")
            continue
        assert row.status == "success"
        assert (row.tokens_in, row.tokens_out) == (client["in"], client["out"])
        assert row.cost_usd == (PRICE_IN * client["in"] + PRICE_OUT * client["out"]) / 1000
        if client["kind"] == "plain":  # the answer's header is the price billed, to the digit
            assert Decimal(client["cost_header"]) == row.cost_usd
