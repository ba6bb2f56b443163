"""Gateway test fixtures: a real provider simulator, real gateway processes, a real usage writer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import openai
import pytest
import redis.asyncio as redis_asyncio
import yaml

from aiaas_testing import InfraUrls, ServiceProcess, TenantWithKey, free_port
from gateway.limits.service import RateLimiter

from .factories import METRICS_URLS, gateway_env, start_gateway


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-run")


@pytest.fixture(scope="session")
def sim_url(run_dir: Path) -> Iterator[str]:
    """The provider simulator as its own process."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "provider_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={},
        log_path=run_dir / "sim.log",
        ready_url=f"http://127.0.0.1:{port}/health",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def _dep(name: str, model: str, sim: str, provider: str = "openai", **extra: object) -> dict[str, object]:
    base = f"{sim}/v1" if provider != "anthropic" else sim
    return {
        "name": name,
        "provider": provider,
        "model": model,
        "base_url": base,
        "input_usd_per_1k": "0.5",
        "output_usd_per_1k": "1.5",
        **extra,
    }


@pytest.fixture(scope="session")
def models_file(run_dir: Path, sim_url: str) -> Path:
    """Aliases used by the gateway tests, every deployment on the simulator."""
    aliases = [
        {
            "name": "chat",
            "deployments": [_dep("chat-a", "sim-chat-a", sim_url), _dep("chat-b", "sim-chat-b", sim_url)],
        },
        {"name": "claude", "deployments": [_dep("claude-a", "sim-claude", sim_url, provider="anthropic")]},
        {
            "name": "failover",
            "deployments": [
                _dep("fo-primary", "fo-primary", sim_url),
                _dep("fo-secondary", "fo-secondary", sim_url),
            ],
        },
        {
            "name": "slow",
            "deployments": [
                _dep("slow-primary", "slow-primary", sim_url, timeout_s=0.5),
                _dep("slow-secondary", "slow-secondary", sim_url),
            ],
        },
        {
            "name": "stream-drop",
            "deployments": [
                _dep("drop-primary", "drop-primary", sim_url),
                _dep("drop-secondary", "drop-secondary", sim_url),
            ],
        },
        # Default timeouts on purpose (test_failover: a hang fails over inside the default deadline).
        {
            "name": "hang",
            "deployments": [
                _dep("hang-primary", "hang-primary", sim_url),
                _dep("hang-secondary", "hang-secondary", sim_url),
            ],
        },
        {
            "name": "role-cut",
            "deployments": [
                _dep("cut-primary", "cut-primary", sim_url, first_byte_timeout_s=2),
                _dep("cut-secondary", "cut-secondary", sim_url),
            ],
        },
    ]
    path = run_dir / "models.yaml"
    path.write_text(yaml.safe_dump({"aliases": aliases}))
    return path


@pytest.fixture(scope="session")
def gateway_url(run_dir: Path, infra_urls: InfraUrls, models_file: Path, sim_url: str) -> Iterator[str]:
    """One gateway process shared by the gateway tests."""
    proc, url = start_gateway(run_dir, gateway_env(infra_urls, models_file, sim_url))
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def usage_writer(run_dir: Path, infra_urls: InfraUrls, models_file: Path, sim_url: str) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        ["-m", "gateway.usage_writer"],
        env=gateway_env(infra_urls, models_file, sim_url),
        log_path=run_dir / "usage-writer.log",
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
async def fuzz_tenant_key(make_tenant) -> str:
    return (await make_tenant()).api_key


@pytest.fixture(scope="session")
def control_plane_env(infra_urls: InfraUrls, models_file: Path, sim_url: str) -> dict[str, str]:
    """A control plane's env next to these gateways: theirs, plus the platform_admin DSN it alone holds."""
    env = gateway_env(infra_urls, models_file, sim_url)
    return {**env, "ADMIN_DATABASE_URL": infra_urls.admin_database_url}


@pytest.fixture(scope="session")
def spawn_gateway(run_dir: Path, infra_urls: InfraUrls, models_file: Path, sim_url: str):
    """Start extra gateway processes (stopped at session end): `spawn_gateway(name=..., **env)`."""
    procs: list[ServiceProcess] = []

    def _spawn(name: str = "gateway-extra", **env: str) -> str:
        proc, url = start_gateway(run_dir, gateway_env(infra_urls, models_file, sim_url, **env), name=name)
        procs.append(proc)
        return url

    yield _spawn
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="session")
def second_gateway(spawn_gateway) -> str:
    """A second gateway process on the same Postgres, NATS and Redis (shared limits and quotas)."""
    return spawn_gateway(name="gateway-2")


@pytest.fixture(scope="session")
def gateway_base_env(infra_urls: InfraUrls, models_file: Path, sim_url: str) -> dict[str, str]:
    return gateway_env(infra_urls, models_file, sim_url)


@pytest.fixture(scope="session")
def metrics_of() -> Callable[[str], str]:
    """`metrics_of(gateway_url)`: where that gateway's Prometheus metrics are served (not on its own port)."""
    return METRICS_URLS.__getitem__


@pytest.fixture
async def tenant(make_tenant) -> TenantWithKey:
    """A fresh tenant with one key, per test."""
    return await make_tenant()


@pytest.fixture
def client(gateway_url: str, tenant: TenantWithKey) -> openai.AsyncOpenAI:
    """The official SDK pointed at the shared gateway with the test tenant's key."""
    return openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=tenant.api_key, max_retries=0)


@pytest.fixture
async def limiter(redis_client: redis_asyncio.Redis) -> AsyncIterator[RateLimiter]:
    """A limiter with a key prefix of its own on the shared Redis; its keys are deleted afterwards."""
    prefix = f"rltest-{uuid.uuid4().hex}"
    yield RateLimiter(redis_client, prefix=prefix)
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis_client.delete(*keys)
