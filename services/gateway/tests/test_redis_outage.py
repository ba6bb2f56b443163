"""A Redis that stops answering (but keeps its sockets open) never holds requests: they are admitted and
the bypass is counted. A TCP proxy between the gateway and the real Redis stands in for the hang."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as redis_asyncio
from redis.exceptions import TimeoutError as RedisTimeout

from aiaas_testing import metric_value, scrape_metrics
from gateway.limits.service import Limits, RateLimiter

BODY = {"model": "chat", "messages": [{"role": "user", "content": "is redis there?"}], "max_tokens": 5}


class FreezableProxy:
    """Forwards TCP to `upstream`; once `frozen`, bytes in either direction are read and dropped."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 6379
        self._db = parts.path or "/0"
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self._db}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if not self.frozen:
                    dst.write(data)
                    await dst.drain()
        except (ConnectionError, OSError):
            return
        finally:
            dst.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _bypassed(metrics_url: str) -> float:
    # The gateway is this test's own: every bypass it counted is one of this test's requests.
    return metric_value(await scrape_metrics(metrics_url), "gateway_rate_limit_bypassed_total")


async def test_a_hung_redis_times_out_and_requests_are_admitted(
    spawn_gateway, make_tenant, infra_urls, metrics_of
) -> None:
    proxy = FreezableProxy(infra_urls.redis_url)
    redis_url = await proxy.start()
    try:
        # In a thread: waiting for readiness blocks, and the proxy runs on this event loop.
        gateway = await asyncio.to_thread(
            spawn_gateway, name="gateway-redis-proxy", REDIS_URL=redis_url, GATEWAY_REDIS_TIMEOUT_S="0.3"
        )
        tenant = await make_tenant(rate_limit_rpm=1000)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gateway}/v1/chat/completions", json=BODY, headers=tenant.auth) as resp:
                assert resp.status == 200 and "x-ratelimit-limit-requests" in resp.headers  # limited, via Redis
            assert await _bypassed(metrics_of(gateway)) == 0

            proxy.frozen = True  # Redis keeps the connections open and never answers again
            started = time.monotonic()

            async def one() -> tuple[int, dict[str, str]]:
                async with http.post(f"{gateway}/v1/chat/completions", json=BODY, headers=tenant.auth) as resp:
                    await resp.read()
                    return resp.status, dict(resp.headers)

            results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(10))), 10)
            elapsed = time.monotonic() - started
            assert [status for status, _ in results] == [200] * 10
            assert all("x-ratelimit-limit-requests" not in headers for _, headers in results)  # not limited
            assert elapsed < 5, elapsed  # a bound on hanging, not a performance figure: 0.3 s timeouts
            assert await _bypassed(metrics_of(gateway)) == 10
    finally:
        await proxy.close()


async def test_coalesced_acquires_all_fail_fast_on_a_hung_redis(infra_urls) -> None:
    proxy = FreezableProxy(infra_urls.redis_url)
    url = await proxy.start()
    client = redis_asyncio.Redis(connection_pool=redis_asyncio.BlockingConnectionPool.from_url(url, timeout=5))
    try:
        limiter = RateLimiter(client, prefix="rl-hung", timeout_s=0.2)
        limits = Limits(requests_per_minute=100)
        first = await limiter.acquire(
            tenant_id="t", key_id="k", tenant_limits=limits, key_limits=Limits(), estimated_tokens=0
        )
        assert first.allowed
        proxy.frozen = True
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    limiter.acquire(
                        tenant_id="t", key_id="k", tenant_limits=limits, key_limits=Limits(), estimated_tokens=0
                    )
                    for _ in range(20)
                ),
                return_exceptions=True,
            ),
            5,
        )
        assert all(isinstance(r, RedisTimeout) for r in results), results
        assert limiter.pending == 0
    finally:
        await client.aclose()
        await proxy.close()
