"""Readiness means able to serve: a gateway stays ready through a NATS outage and a Redis outage while it
serves chat requests (usage to the outbox, limits bypassed and counted), and is unready when no
deployment is usable or Postgres is cut off. Each outage is of a private server or a proxy: the
shared servers stay up throughout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import pytest
import yaml
from sqlalchemy import make_url, text

from aiaas.db import tenant_session
from aiaas_testing import NatsServer, RedisServer, ServiceProcess, free_port, metric_value, scrape_metrics

BODY = {"model": "chat", "messages": [{"role": "user", "content": "are you ready?"}], "max_tokens": 5}
REQUESTS = 6


@pytest.fixture
def private_nats(tmp_path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _ready(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(f"{url}/health/ready") as resp:
        return resp.status, await resp.json()


async def _degraded_is(http: aiohttp.ClientSession, url: str, expected: list[str]) -> bool:
    status, body = await _ready(http, url)
    assert status == 200, body  # never unready for NATS or Redis
    return body["degraded"] == expected


async def _serve(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> list[str]:
    """REQUESTS chat completions, each answered 200 with the readiness probe 200 right after it."""
    ids = []
    for _ in range(REQUESTS):
        async with http.post(f"{url}/v1/chat/completions", json=BODY, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["usage"]["completion_tokens"] > 0
            ids.append(resp.headers["x-request-id"])
        status, body = await _ready(http, url)
        assert status == 200, body
    return ids


async def _rows(runtime_sessions, tenant_id, ids: list[str]) -> set[str]:
    async with tenant_session(runtime_sessions, tenant_id) as session:
        rows = await session.execute(text("select request_id from requests where request_id = any(:ids)"), {"ids": ids})
        return {row.request_id for row in rows}


async def test_ready_through_a_nats_outage_and_usage_lands_after(
    private_nats, spawn_gateway, gateway_base_env, run_dir, make_tenant, runtime_sessions, metrics_of
) -> None:
    env = {"NATS_URL": private_nats.url, "GATEWAY_PUBLISH_TIMEOUT_S": "0.5"}
    url = spawn_gateway(name="gateway-ready-nats", **env)
    workers = [
        ServiceProcess(
            ["-m", module], env={**gateway_base_env, **env}, log_path=run_dir / f"{module}-ready.log"
        ).start()
        for module in ("gateway.usage_writer", "gateway.outbox_relay")
    ]
    tenant = await make_tenant()
    try:
        async with aiohttp.ClientSession() as http:
            assert await _degraded_is(http, url, [])
            private_nats.stop()
            await _until(lambda: _degraded_is(http, url, ["nats"]), 10, "NATS listed as degraded")
            status, body = await _ready(http, url)
            assert status == 200 and body["status"] == "ok"
            assert body["checks"]["postgres"] == "ok" and body["checks"]["nats"].startswith("down")
            samples = await scrape_metrics(metrics_of(url))
            assert metric_value(samples, "health_dependency_up", dependency="nats", required="false") == 0
            assert metric_value(samples, "health_dependency_up", dependency="postgres", required="true") == 1

            ids = await _serve(http, url, tenant.auth)
            assert await _rows(runtime_sessions, tenant.id, ids) == set()  # nothing reached the writer yet

            private_nats.start()
            await _until(lambda: _degraded_is(http, url, []), 15, "NATS back")
        # Parked in the WAL/outbox during the outage, relayed once NATS returned, written once each.
        await _until(lambda: _all_rows(runtime_sessions, tenant.id, ids), 30, "the outage's usage rows")
    finally:
        for worker in workers:
            worker.stop()


async def _all_rows(runtime_sessions, tenant_id, ids: list[str]) -> bool:
    return await _rows(runtime_sessions, tenant_id, ids) == set(ids)


async def test_ready_through_a_redis_outage_with_limits_bypassed(
    private_redis, spawn_gateway, usage_writer, make_tenant, runtime_sessions, metrics_of
) -> None:
    url = spawn_gateway(name="gateway-ready-redis", REDIS_URL=private_redis.url, GATEWAY_REDIS_TIMEOUT_S="0.3")
    tenant = await make_tenant(rate_limit_rpm=1000)
    async with aiohttp.ClientSession() as http:
        assert await _degraded_is(http, url, [])
        private_redis.stop()
        await _until(lambda: _degraded_is(http, url, ["redis"]), 10, "Redis listed as degraded")
        before = metric_value(await scrape_metrics(metrics_of(url)), "gateway_rate_limit_bypassed_total")

        ids = await _serve(http, url, tenant.auth)

        samples = await scrape_metrics(metrics_of(url))
        assert metric_value(samples, "gateway_rate_limit_bypassed_total") - before == REQUESTS
        assert metric_value(samples, "health_dependency_up", dependency="redis", required="false") == 0
        private_redis.start()
        await _until(lambda: _degraded_is(http, url, []), 10, "Redis back")
    # NATS was up throughout: the usage of the requests served without Redis is recorded as usual.
    await _until(lambda: _all_rows(runtime_sessions, tenant.id, ids), 30, "the outage's usage rows")


async def test_unready_when_no_deployment_is_usable(private_nats, spawn_gateway, run_dir, make_tenant) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    models = run_dir / "models-dead.yaml"
    deployment = {"name": "dead-only", "provider": "openai", "model": "m", "base_url": dead}
    models.write_text(yaml.safe_dump({"aliases": [{"name": "chat", "deployments": [deployment]}]}))
    # A private NATS: no model-registry aliases of other tests to fall back to. A long cool-down: the
    # breaker stays open (known broken) while the probe is read.
    url = spawn_gateway(
        name="gateway-ready-dead",
        NATS_URL=private_nats.url,
        GATEWAY_MODELS_FILE=str(models),
        GATEWAY_BREAKER_COOLDOWN_S="60",
    )
    tenant = await make_tenant()
    async with aiohttp.ClientSession() as http:
        status, body = await _ready(http, url)
        assert status == 200 and body["checks"]["providers"] == "ok"  # untried is not known broken
        for _ in range(3):  # GATEWAY_BREAKER_FAILURE_THRESHOLD=3 in these tests
            async with http.post(f"{url}/v1/chat/completions", json=BODY, headers=tenant.auth) as resp:
                assert resp.status >= 500
        status, body = await _ready(http, url)
        assert status == 503, body
        assert body["status"] == "unavailable"
        assert body["checks"]["providers"] == "down: NoUsableDeployment"
        assert body["checks"]["postgres"] == "ok" and body["degraded"] == []
        async with http.get(f"{url}/health/live") as resp:
            assert resp.status == 200  # liveness does not care: restarting would not help


class CuttableProxy:
    """TCP to `host:port` on a fixed local port; `cut()` drops every connection and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(dst)
            dst.transport.abort()


async def test_unready_without_postgres_and_ready_again_after(spawn_gateway, infra_urls) -> None:
    db = make_url(infra_urls.database_url)
    proxy = CuttableProxy(db.host or "127.0.0.1", db.port or 5432)
    await proxy.open()
    proxied = db.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        # In a thread: waiting for readiness blocks, and the proxy runs on this event loop.
        url = await asyncio.to_thread(spawn_gateway, name="gateway-ready-pg", DATABASE_URL=proxied)
        async with aiohttp.ClientSession() as http:
            await proxy.cut()
            status, body = await _ready(http, url)
            assert status == 503, body  # no key can be resolved: it cannot serve
            assert body["status"] == "unavailable" and body["checks"]["postgres"].startswith("down")
            assert body["checks"]["providers"] == "ok" and body["degraded"] == []
            async with http.get(f"{url}/health/live") as resp:
                assert resp.status == 200
            await proxy.open()
            await _until(lambda: _ready_now(http, url), 10, "readiness back with Postgres")
    finally:
        await proxy.cut()


async def _ready_now(http: aiohttp.ClientSession, url: str) -> bool:
    return (await _ready(http, url))[0] == 200
