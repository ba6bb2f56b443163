"""Every HTTP service's readiness with one dependency down: 503 only for a dependency it cannot serve without.

Each service runs as a real process on a private NATS and a private Redis (stopped and restarted here)
and the shared Postgres. What each probe requires is written beside it (`<service>/health.py`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from aiaas.roles import process_env
from aiaas_testing import InfraUrls, NatsServer, RedisServer, ServiceProcess, free_port

# (process name in aiaas.roles, module); the gateway first: realtime's readiness needs it.
SERVICES = [
    ("gateway", "gateway"),
    ("billing", "billing"),
    ("billing-admin", "billing.admin"),
    ("analytics", "analytics"),
    ("analytics-admin", "analytics.admin"),
    ("control-plane", "control_plane"),
    ("realtime", "realtime"),
]


class Stack:
    def __init__(self, nats: NatsServer, redis: RedisServer) -> None:
        self.nats, self.redis = nats, redis
        self.urls: dict[str, str] = {}
        self.procs: dict[str, ServiceProcess] = {}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, infra_urls: InfraUrls, stack_models_file: Path, provider_sim: str
) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("readiness")
    stack = Stack(NatsServer(run_dir / "nats").start(), RedisServer(run_dir / "redis").start())
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
        "NATS_URL": stack.nats.url,
        "REDIS_URL": stack.redis.url,
        "GATEWAY_MODELS_FILE": str(stack_models_file),
        "GATEWAY_PROVIDER_SIM_URL": provider_sim,
        "GATEWAY_REDIS_TIMEOUT_S": "0.3",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "LOG_LEVEL": "WARNING",
    }
    try:
        for name, module in SERVICES:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            extra = {"REALTIME_GATEWAY_URL": stack.urls["gateway"]} if name == "realtime" else {}
            stack.procs[name] = ServiceProcess(
                ["-m", module, "--host", "127.0.0.1", "--port", str(port)],
                # Only the DSNs of the process's roles, as everywhere else (aiaas.roles).
                env=process_env(name.replace("-", "_"), {**os.environ, **env, **extra}),
                log_path=run_dir / f"{name}.log",
                ready_url=f"{url}/health/ready",
                inherit_env=False,
            ).start()
            stack.urls[name] = url
        yield stack
    finally:
        for proc in reversed(stack.procs.values()):
            proc.stop()
        stack.nats.stop()
        stack.redis.stop()


async def _states(stack: Stack) -> dict[str, tuple[int, list[str], dict[str, str]]]:
    """name -> (readiness status, degraded, checks) for every service."""
    out = {}
    async with aiohttp.ClientSession() as http:
        for name, url in stack.urls.items():
            async with http.get(f"{url}/health/ready") as resp:
                body = await resp.json()
                out[name] = (resp.status, body["degraded"], body["checks"])
    return out


async def _settle(stack: Stack, expected: dict[str, tuple[int, list[str]]]) -> dict:
    """Poll until every service answers (status, degraded) as expected (clients notice outages in a while)."""
    states: dict = {}
    for _ in range(100):
        states = await _states(stack)
        if {name: (status, degraded) for name, (status, degraded, _) in states.items()} == expected:
            return states
        await asyncio.sleep(0.1)
    raise AssertionError(f"readiness never became {expected}: {states}")


ALL_READY = {name: (200, []) for name, _ in SERVICES}


async def test_all_ready_with_every_dependency_up(stack) -> None:
    states = await _settle(stack, ALL_READY)
    assert states["gateway"][2] == {"postgres": "ok", "providers": "ok", "nats": "ok", "redis": "ok"}
    assert states["realtime"][2] == {"postgres": "ok", "redis": "ok", "gateway": "ok", "nats": "ok"}
    assert states["billing-admin"][2] == {"postgres": "ok", "postgres_admin": "ok", "redis": "ok"}


async def test_redis_down_unreadies_only_realtime(stack) -> None:
    stack.redis.stop()
    try:
        states = await _settle(
            stack,
            {
                **ALL_READY,
                "gateway": (200, ["redis"]),  # limits bypassed and counted
                "billing": (200, ["redis"]),  # quota publishing is best-effort, reconciled later
                "billing-admin": (200, ["redis"]),
                "realtime": (503, []),  # sockets are admitted through Redis
            },
        )
        assert states["realtime"][2]["redis"].startswith("down")
    finally:
        stack.redis.start()
    await _settle(stack, ALL_READY)


async def test_nats_down_unreadies_nothing(stack) -> None:
    stack.nats.stop()
    try:
        await _settle(
            stack,
            {
                **ALL_READY,
                "gateway": (200, ["nats"]),  # usage to the WAL and the outbox
                "control-plane": (200, ["nats"]),  # KV catches up at the next reconcile
                "realtime": (200, ["nats"]),  # only notices and flag changes ride on it
            },
        )
    finally:
        stack.nats.start()
    await _settle(stack, ALL_READY)


async def test_realtime_unready_without_the_gateway(stack) -> None:
    stack.procs["gateway"].stop()
    del stack.urls["gateway"]
    states = await _settle(stack, {**{n: s for n, s in ALL_READY.items() if n != "gateway"}, "realtime": (503, [])})
    assert states["realtime"][2]["gateway"].startswith("down")
    async with aiohttp.ClientSession() as http, http.get(f"{stack.urls['realtime']}/health/live") as resp:
        assert resp.status == 200  # liveness stays cheap: a dependency outage never restarts a process
