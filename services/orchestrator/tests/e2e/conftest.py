"""End-to-end fixtures: one stack of real processes on a private NATS for the whole e2e session (stack.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from aiaas_testing import AdminKey, InfraUrls, NatsServer, TenantWithKey
from aiaas_testing.plugin import MakeTenant

from .stack import E2EStack


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("orchestrator-e2e")


@pytest_asyncio.fixture(scope="session")
async def service_key(make_admin_key: Callable[..., Awaitable[AdminKey]]) -> AdminKey:
    """The orchestrator's service credential: a named platform-admin key the gateway and ingestion are told of."""
    return await make_admin_key(f"orchestrator-e2e-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def e2e_stack(e2e_dir: Path, infra_urls: InfraUrls, service_key: AdminKey) -> Iterator[E2EStack]:
    server = NatsServer(e2e_dir / "nats").start()
    stack = E2EStack(e2e_dir, infra_urls, server, service_key)
    try:
        stack.start_platform()
        yield stack
    finally:
        stack.stop()
        server.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest_asyncio.fixture
async def stack_nats(e2e_stack: E2EStack) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(e2e_stack.nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield nc
    await nc.close()


@pytest.fixture
def orch_tenant(make_tenant: MakeTenant) -> Callable[[], Awaitable[TenantWithKey]]:
    """Factory: a fresh tenant whose key holds every tenant scope (orchestrator runs, ingestion uploads)."""

    def _make() -> Awaitable[TenantWithKey]:
        return make_tenant()

    return _make
