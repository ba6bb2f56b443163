"""Router test fixtures: a private NATS, the router API and consumer as real processes, a service key.

The router gets its own nats-server (session-scoped): its durable consumers and the ROUTER stream hold only
this session's events. Postgres is the shared one. Router processes run with `ROUTER_VERSIONS_FROM_DB=false`
(the artifact given alone serves, whatever versions other suites activate in the shared catalogue) and
`ROUTER_STATE_CACHE_TTL_S=0` (a policy or arm change is seen by the next decision).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from aiaas_testing import AdminKey, InfraUrls, NatsServer, ServiceProcess, free_port
from router.model import write_constant_artifact

from .factories import CONSTANT_P, RouterProcess


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("router-run")


@pytest.fixture(scope="session")
def private_nats(run_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(run_dir / "nats").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def service_key(make_admin_key: Callable[..., Awaitable[AdminKey]]) -> AdminKey:
    """The gateway's service credential in these tests: a named platform-admin key the router lists."""
    return await make_admin_key()


@pytest.fixture(scope="session")
def artifact(run_dir: Path) -> Path:
    """A constant model: P(success) cheap 0.85, strong 0.95 for every request."""
    path = run_dir / "artifacts" / "test-constant.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_constant_artifact(path, CONSTANT_P, version="test-constant")
    return path


@pytest.fixture(scope="session")
def base_env(
    infra_urls: InfraUrls, private_nats: NatsServer, service_key: AdminKey, artifact: Path, run_dir: Path
) -> dict[str, str]:
    return {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": private_nats.url,
        "ROUTER_SERVICE_KEY_NAMES": service_key.name,
        "ROUTER_ARTIFACT_PATH": str(artifact),
        "ROUTER_VERSIONS_FROM_DB": "false",
        "ROUTER_STATE_CACHE_TTL_S": "0",
        # A loaded test machine must not turn decisions into fallbacks (test_fallback.py forces 0 on purpose).
        "ROUTER_DECIDE_DEADLINE_MS": "2000",
        "ROUTER_AUTH_CACHE_TTL_S": "0.5",
        "ROUTER_TRACING": "false",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def start_router(base_env: dict[str, str], run_dir: Path) -> Iterator[Callable[..., RouterProcess]]:
    """Factory: a router API process with `base_env` plus `overrides`; all are stopped at the end."""
    started: list[RouterProcess] = []

    def _start(name: str, **overrides: str) -> RouterProcess:
        port, metrics_port = free_port(), free_port()
        env = {
            **base_env,
            "ROUTER_METRICS_PORT": str(metrics_port),
            "ROUTER_WAL_DIR": str(run_dir / f"wal-{name}"),
            **overrides,
        }
        process = ServiceProcess(
            ["-m", "router", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            log_path=run_dir / f"router-{name}.log",
            ready_url=f"http://127.0.0.1:{port}/health/ready",
        ).start()
        router = RouterProcess(
            url=f"http://127.0.0.1:{port}", metrics_url=f"http://127.0.0.1:{metrics_port}/metrics", process=process
        )
        started.append(router)
        return router

    yield _start
    for router in started:
        router.process.stop()


@pytest.fixture(scope="session")
def router(start_router: Callable[..., RouterProcess]) -> RouterProcess:
    """The router API with the constant artifact."""
    return start_router("main")


@pytest.fixture(scope="session")
def consumer(base_env: dict[str, str], run_dir: Path) -> Iterator[str]:
    """`python -m router consume`; yields its metrics URL."""
    metrics_port = free_port()
    process = ServiceProcess(
        ["-m", "router", "consume"],
        env={**base_env, "ROUTER_CONSUMER_METRICS_PORT": str(metrics_port)},
        log_path=run_dir / "consumer.log",
    ).start()
    yield f"http://127.0.0.1:{metrics_port}/metrics"
    process.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
