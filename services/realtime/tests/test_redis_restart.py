"""Redis is a cache, never the record: a private Redis restarted empty in the middle of traffic.

A gateway, a billing meter and a realtime instance share a private Redis (no persistence, as in
compose); the shared one is never touched. Across the restart: seqs continue, a `client_msg_id`
is answered once, a failed message can be sent again, quotas hold again within a second and rate
limits come back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import nats
import pytest
from sqlalchemy import text

from aiaas import clock
from aiaas.db import admin_session
from aiaas_testing import InfraUrls, RedisServer, ServiceProcess, free_port
from aiaas_testing.realtime import open_ws, recv_until, send


@pytest.fixture(scope="module")
def private_redis(run_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(run_dir / "private-redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def private_gateway(run_dir: Path, gateway_env: dict[str, str], private_redis: RedisServer) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        env={**gateway_env, "REDIS_URL": private_redis.url},
        log_path=run_dir / "private-gateway.log",
        ready_url=f"http://127.0.0.1:{port}/health/live",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="module")
def private_meter(run_dir: Path, infra_urls: InfraUrls, private_redis: RedisServer) -> Iterator[ServiceProcess]:
    """The billing meter on the private Redis; its timer sweep is slow (60 s), so only the watch can republish.

    It consumes a subject nobody publishes to: this test needs its quota publishing, not its metering.
    """
    durable = f"redis-restart-{uuid.uuid4().hex[:8]}"
    proc = ServiceProcess(
        ["-m", "billing.meter"],
        env={
            "DATABASE_URL": infra_urls.database_url,
            "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
            "NATS_URL": infra_urls.nats_url,
            "REDIS_URL": private_redis.url,
            "BILLING_METER_DURABLE": durable,
            "BILLING_METER_FILTER_SUBJECT": f"usage.recorded.{uuid.uuid4()}",
            "BILLING_METER_METRICS_PORT": "0",
            "BILLING_RUN_OUTBOX_RELAY": "false",
            "BILLING_RECONCILE_INTERVAL_S": "60",
            "BILLING_QUOTA_WATCH_INTERVAL_S": "0.2",
            "LOG_LEVEL": "WARNING",
            clock.OFFSET_ENV: repr(clock.offset_s()),
        },
        log_path=run_dir / "private-meter.log",
    ).start()
    yield proc
    proc.stop()

    async def drop_consumer() -> None:
        nc = await nats.connect(infra_urls.nats_url)
        try:
            await nc.jetstream().delete_consumer("USAGE", durable)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(drop_consumer())


@pytest.fixture(scope="module")
def private_rt(spawn_realtime, private_redis: RedisServer, private_gateway: str):
    return spawn_realtime("realtime-private-redis", REDIS_URL=private_redis.url, REALTIME_GATEWAY_URL=private_gateway)


@pytest.fixture(scope="module")
def private_rt_b(spawn_realtime, private_redis: RedisServer, private_gateway: str):
    """A second instance on the private Redis: it follows replies produced elsewhere through the live log."""
    return spawn_realtime("realtime-private-redis-b", REDIS_URL=private_redis.url, REALTIME_GATEWAY_URL=private_gateway)


async def _success_rows(admin_sessions, tenant_id: uuid.UUID, want: int) -> int:
    """Successful metered requests of the tenant, once `want` are there (or after 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        async with admin_session(admin_sessions) as session:
            found = (
                await session.execute(
                    text("select count(*) from requests where tenant_id = :t and status = 'success'"), {"t": tenant_id}
                )
            ).scalar_one()
        if found >= want or time.monotonic() > deadline:
            await asyncio.sleep(1.0)  # and nothing more arrives
            async with admin_session(admin_sessions) as session:
                return int(
                    (
                        await session.execute(
                            text("select count(*) from requests where tenant_id = :t and status = 'success'"),
                            {"t": tenant_id},
                        )
                    ).scalar_one()
                )
        await asyncio.sleep(0.2)


async def test_realtime_across_an_empty_redis_restart(
    private_rt, private_rt_b, private_redis: RedisServer, usage_writer, make_tenant, admin_sessions
) -> None:
    tenant = await make_tenant()
    async with open_ws(private_rt.ws, tenant.api_key) as ws, open_ws(private_rt_b.ws, tenant.api_key) as other:
        # A reply streams; Redis dies and comes back empty after a few deltas; the reply goes on.
        await send(ws, type="message.create", content="A long story please", model="slow", client_msg_id="m-1")
        events, _ = await recv_until(ws, ("conversation.created",))
        cid = events[0]["conversation_id"]
        # Another instance's socket follows the same reply through the live log (XREAD) across the restart.
        await send(other, type="resume", conversation_id=cid, last_seq=0)
        while sum(e["type"] == "response.delta" for e in events) < 5:
            more, _ = await recv_until(ws, ("response.delta",))
            events += more
        private_redis.restart_empty()
        # Redis lost the reply's in-flight marker; Postgres still knows the reply is live.
        await send(
            other, type="message.create", conversation_id=cid, content="meanwhile", model="chat", client_msg_id="m-0"
        )
        more, _ = await recv_until(ws, ("response.completed", "error"), wait_s=30)
        events += more
        assert events[-1]["type"] == "response.completed", events[-1]
        followed, _ = await recv_until(other, ("response.completed",), wait_s=30)
        assert [e["code"] for e in followed if "seq" not in e] == ["response_in_progress"]
        followed = [e for e in followed if "seq" in e]
        assert [(e["seq"], e["type"]) for e in followed] == [(e["seq"], e["type"]) for e in events]

        # The same client_msg_id again: Redis has forgotten it, Postgres has not.
        await send(ws, type="message.create", conversation_id=cid, content="again", model="chat", client_msg_id="m-1")
        dup, _ = await recv_until(ws, ("error",))
        assert (dup[-1]["code"], dup[-1]["client_msg_id"]) == ("duplicate_message", "m-1")

        # A message that fails while Redis is down is refused, and answered once when sent again.
        private_redis.stop()
        await send(ws, type="message.create", conversation_id=cid, content="hello", model="chat", client_msg_id="m-2")
        codes = []
        while not codes or codes[-1] == "follow_failed":  # the live stream is lost too; resumed below
            codes.append((await recv_until(ws, ("error",), wait_s=30))[0][-1]["code"])
        assert codes[-1] == "service_unavailable", codes
        private_redis.start()
        await send(ws, type="message.create", conversation_id=cid, content="hello", model="chat", client_msg_id="m-2")
        more, _ = await recv_until(ws, ("response.completed", "error"))
        assert more[-1]["type"] == "response.completed", more[-1]
        events += more

        # A reply the gateway refuses (unknown model): the same id may be sent again, and is answered.
        await send(
            ws, type="message.create", conversation_id=cid, content="hi", model="no-such-model", client_msg_id="m-3"
        )
        more, _ = await recv_until(ws, ("response.completed", "error"))
        assert (more[-1]["type"], more[-1]["status"]) == ("error", 404), more[-1]
        events += more
        await send(ws, type="message.create", conversation_id=cid, content="hi", model="chat", client_msg_id="m-3")
        more, _ = await recv_until(ws, ("response.completed", "error"))
        assert more[-1]["type"] == "response.completed", more[-1]
        events += more
        for msg_id in ("m-2", "m-3"):
            await send(ws, type="message.create", conversation_id=cid, content="x", model="chat", client_msg_id=msg_id)
            dup, _ = await recv_until(ws, ("error",))
            assert (dup[-1]["code"], dup[-1]["client_msg_id"]) == ("duplicate_message", msg_id)

    # Seqs as seen live: strictly increasing, no gap; the stored log from 0 is the same events.
    seqs = [e["seq"] for e in events if "seq" in e]
    assert seqs == list(range(1, len(seqs) + 1))
    async with open_ws(private_rt.ws, tenant.api_key) as ws:
        await send(ws, type="resume", conversation_id=cid, last_seq=0)
        replay: list[dict] = []
        while len(replay) < len(seqs):
            replay.append((await recv_until(ws, tuple(_TYPES)))[0][-1])
    assert [(e["seq"], e["type"]) for e in replay] == [(e["seq"], e["type"]) for e in events if "seq" in e]
    created = [e["client_msg_id"] for e in replay if e["type"] == "message.created"]
    assert created == ["m-1", "m-2", "m-3", "m-3"]
    # Answered once each: three replies metered (the refused one never reached a provider).
    assert await _success_rows(admin_sessions, tenant.id, 3) == 3


_TYPES = ("conversation.created", "message.created", "response.delta", "response.completed", "error")


async def _chat(http: aiohttp.ClientSession, url: str, api_key: str) -> tuple[int, str | None]:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    async with http.post(
        f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key}"}
    ) as resp:
        payload = await resp.json()
        return resp.status, (payload.get("error") or {}).get("code")


async def test_quotas_and_rate_limits_hold_again_after_an_empty_restart(
    private_gateway, private_meter, private_redis: RedisServer, make_tenant, admin_sessions
) -> None:
    # A tenant on the free plan (1000 requests per period) that has used them all, as Postgres records.
    tenant = await make_tenant()
    now = clock.now()
    async with admin_session(admin_sessions) as session:
        await session.execute(
            text(
                "insert into subscriptions (tenant_id, plan_code, current_period_start, current_period_end, plan_since)"
                " values (:t, 'free', :s, :e, :s)"
            ),
            {"t": tenant.id, "s": now - timedelta(hours=1), "e": now + timedelta(days=29)},
        )
        await session.execute(
            text(
                "insert into usage_counters (tenant_id, period_start, model_alias, meter, quantity)"
                " select :t, current_period_start, 'chat', 'requests', 1000 from subscriptions where tenant_id = :t"
            ),
            {"t": tenant.id},
        )
    limited = await make_tenant(rate_limit_rpm=3)
    async with aiohttp.ClientSession() as http:
        # Wait for the meter's first publish (it starts with one), then the quota holds.
        deadline = time.monotonic() + 20
        while await _chat(http, private_gateway, tenant.api_key) != (429, "quota_exceeded"):
            assert time.monotonic() < deadline, "quota never enforced"
            await asyncio.sleep(0.2)

        private_redis.restart_empty()
        restarted = time.monotonic()
        answers = []
        while (answer := await _chat(http, private_gateway, tenant.api_key)) != (429, "quota_exceeded"):
            answers.append(answer)
            assert time.monotonic() - restarted < 5, answers
            await asyncio.sleep(0.05)
        held_after = time.monotonic() - restarted
        print(f"quota enforced again {held_after * 1000:.0f} ms after the restart ({len(answers)} admitted before)")
        assert held_after < 1.0

        # Rate limits come back: 3 requests per minute, the 4th is refused.
        statuses = [await _chat(http, private_gateway, limited.api_key) for _ in range(4)]
        assert [s for s, _ in statuses[:3]] == [200, 200, 200], statuses
        assert statuses[3] == (429, "rate_limit_exceeded"), statuses
