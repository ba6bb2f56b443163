"""Engine test fixtures: real provider simulator, gateway, toolbox and ingestion processes; the engine in-process.

The orchestrator's service credential is a fresh named admin key that the gateway and ingestion list
(`GATEWAY_SERVICE_KEY_NAMES`, `INGESTION_SERVICE_KEY_NAMES`). Each test gets a fresh tenant: the toolbox namespaces
everything by the tenant id, so effects and faults are the test's alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.checkpoints import CheckpointPool, checkpoint_pool
from aiaas.events.publisher import EventPublisher
from aiaas.events.topology import ensure_topology
from aiaas.tools import ToolAdapter
from aiaas_testing import AdminKey, InfraUrls, ServiceProcess, TenantWithKey, free_port
from orchestrator.config import OrchestratorSettings
from orchestrator.engine import Engine
from orchestrator.llm import GatewayLLM
from orchestrator.tools_catalog import base_urls

from .factories import MakeEngine, Toolbox


def _start(run_dir: Path, name: str, args: list[str], env: dict[str, str], ready: str) -> tuple[ServiceProcess, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = ServiceProcess(
        ["-m", *args, "--host", "127.0.0.1", "--port", str(port)],
        env={"LOG_LEVEL": "WARNING", clock.OFFSET_ENV: repr(clock.offset_s()), **env},
        log_path=run_dir / f"{name}-{port}.log",
        ready_url=f"{url}{ready}",
    ).start()
    return proc, url


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("orchestrator-engine")


@pytest.fixture(scope="session")
async def engine_key(make_admin_key: Callable[..., Awaitable[AdminKey]]) -> AdminKey:
    """The orchestrator's service credential for this suite."""
    return await make_admin_key()


@pytest.fixture(scope="session")
def engine_sim(engine_dir: Path) -> Iterator[str]:
    proc, url = _start(engine_dir, "sim", ["provider_sim"], {}, "/health")
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def engine_gateway(engine_dir: Path, infra_urls: InfraUrls, engine_sim: str, engine_key: AdminKey) -> Iterator[str]:
    """A gateway whose default catalogue serves `gpt-4o-mini` from the simulator, listing the service key."""
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "GATEWAY_PROVIDER_SIM_URL": engine_sim,
        "GATEWAY_SERVICE_KEY_NAMES": engine_key.name,
        "GATEWAY_USAGE_WAL_DIR": tempfile.mkdtemp(prefix="orch-engine-wal-"),
        "GATEWAY_AUTH_CACHE_TTL_S": "0.5",
        "GATEWAY_METRICS_PORT": "0",
        "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
    }
    proc, url = _start(engine_dir, "gateway", ["gateway"], env, "/health/ready")
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def engine_toolbox(engine_dir: Path) -> Iterator[str]:
    proc, url = _start(engine_dir, "toolbox", ["toolbox"], {"TOOLBOX_METRICS_PORT": "0"}, "/health/ready")
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def engine_ingestion(engine_dir: Path, infra_urls: InfraUrls, engine_key: AdminKey) -> Iterator[str]:
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "INGESTION_SERVICE_KEY_NAMES": engine_key.name,
        "INGESTION_AUTH_CACHE_TTL_S": "0.5",
        "INGESTION_TRACING": "false",
        "INGESTION_METRICS_PORT": "0",
    }
    proc, url = _start(engine_dir, "ingestion", ["ingestion"], env, "/health/ready")
    yield url
    proc.stop()


@pytest.fixture(scope="session")
async def checkpoints(infra_urls: InfraUrls) -> AsyncIterator[CheckpointPool]:
    pool = checkpoint_pool(infra_urls.database_url, min_size=1, max_size=8)
    await pool.open(wait=True)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def js(infra_urls: InfraUrls) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(infra_urls.nats_url)
    jetstream = nc.jetstream()
    await ensure_topology(jetstream)
    yield jetstream
    await nc.drain()


@pytest.fixture(scope="session")
async def make_engine(
    runtime_sessions: async_sessionmaker[AsyncSession],
    checkpoints: CheckpointPool,
    js: JetStreamContext,
    engine_key: AdminKey,
    engine_gateway: str,
    engine_toolbox: str,
    engine_ingestion: str,
) -> AsyncIterator[MakeEngine]:
    """Factory: an engine with its own tool adapter (own breakers) and gateway client; `overrides` are settings."""
    closers: list[Callable[[], Awaitable[None]]] = []

    async def _make(**overrides: Any) -> Engine:
        values: dict[str, Any] = {
            "gateway_url": engine_gateway,
            "service_key": engine_key.key,
            "toolbox_url": engine_toolbox,
            "ingestion_url": engine_ingestion,
            "tool_deadline_s": 10.0,
            "comp_max_age_s": 20.0,
            **overrides,
        }
        settings = OrchestratorSettings(**values)
        tools = ToolAdapter(base_urls(toolbox_url=settings.toolbox_url, ingestion_url=settings.ingestion_url))
        llm = GatewayLLM(settings.gateway_url, settings.service_key)
        closers.extend([tools.aclose, llm.aclose])
        return Engine(
            sessions=runtime_sessions,
            checkpoints=checkpoints,
            tools=tools,
            llm=llm,
            settings=settings,
            publisher=EventPublisher(js),
        )

    yield _make
    for close in closers:
        await close()


@pytest.fixture(scope="session")
async def engine(make_engine: MakeEngine) -> Engine:
    return await make_engine()


@pytest.fixture
async def tenant(make_tenant: Callable[..., Awaitable[TenantWithKey]]) -> TenantWithKey:
    return await make_tenant()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def toolbox(http: aiohttp.ClientSession, engine_toolbox: str, tenant: TenantWithKey) -> Toolbox:
    return Toolbox(http, engine_toolbox, str(tenant.id))
