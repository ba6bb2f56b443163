"""End-to-end fixtures: one stack of real processes on a throwaway database and a private NATS for the whole e2e
session (database.py, stack.py); the tests' sessions and tenants live in that database too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import create_engine, session_factory
from aiaas_testing import AdminKey, InfraUrls, NatsServer, TenantWithKey
from aiaas_testing.admin_keys import create_test_admin_key
from aiaas_testing.tenants import create_tenant_with_key
from evals.replay.pytest_plugin import ExactReplayRegistry

from .client import CREATED_RUNS
from .database import E2EDatabase
from .stack import E2EStack


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("orchestrator-e2e")


@pytest.fixture(scope="session")
def e2e_db(infra_urls: InfraUrls, exact_replay: ExactReplayRegistry) -> Iterator[E2EDatabase]:
    """The throwaway database. Before it is dropped, every run the tests created through the API is exported as its
    tenant and replayed EXACT (evals.replay): a divergence, or an episode that cannot be replayed, fails the session
    here (issue 16 acceptance 5)."""
    db = E2EDatabase.create(infra_urls)
    try:
        yield db
        for tenant_id, run_id in CREATED_RUNS:
            exact_replay.add(tenant_id, run_id, database_url=db.infra.database_url)
        results = asyncio.run(exact_replay.verify())
        failures = ExactReplayRegistry.failures(results)
        assert not failures, f"{len(failures)} of {len(results)} e2e episodes do not replay EXACT: {failures}"
        print(f"\ne2e episodes replayed EXACT: {len(results)} of {len(CREATED_RUNS)} runs created (finished ones)")
    finally:
        asyncio.run(db.drop())


@pytest_asyncio.fixture(scope="session")
async def e2e_sessions(e2e_db: E2EDatabase) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """app_runtime sessions on the e2e database (RLS: bind a tenant with aiaas.db.tenant_session)."""
    engine = create_engine(e2e_db.infra.database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def e2e_admin_sessions(e2e_db: E2EDatabase) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(e2e_db.infra.admin_database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def service_key(e2e_db: E2EDatabase) -> AdminKey:
    """The orchestrator's service credential: a named platform-admin key the gateway and ingestion are told of."""
    engine = create_engine(e2e_db.owner_url, pool_size=1)
    try:
        return await create_test_admin_key(session_factory(engine), f"orchestrator-e2e-{uuid.uuid4().hex[:8]}")
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def e2e_stack(e2e_dir: Path, e2e_db: E2EDatabase, service_key: AdminKey) -> Iterator[E2EStack]:
    server = NatsServer(e2e_dir / "nats").start()
    stack = E2EStack(e2e_dir, e2e_db.infra, server, service_key)
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
def orch_tenant(
    e2e_admin_sessions: async_sessionmaker[AsyncSession],
) -> Callable[[], Awaitable[TenantWithKey]]:
    """Factory: a fresh tenant (e2e database) whose key holds every tenant scope (runs, ingestion uploads)."""

    def _make() -> Awaitable[TenantWithKey]:
        return create_tenant_with_key(e2e_admin_sessions)

    return _make
