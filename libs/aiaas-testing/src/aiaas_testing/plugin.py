"""pytest plugin shared by every test suite: real infrastructure, factories for tenants and keys.

Loaded from the root conftest.py. URLs come from the environment (what `deploy/local/infra.py env`
prints), defaulting to the project-local ports.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import nats
import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session, create_engine, session_factory
from aiaas_testing.admin_keys import AdminKey, create_test_admin_key
from aiaas_testing.infra import InfraUrls, infra_urls_from_env, owner_database_url
from aiaas_testing.repository import delete_admin_keys, delete_model_aliases
from aiaas_testing.tenants import TenantWithKey, create_tenant_with_key

# The control plane publishes model aliases to this bucket; gateways mirror it.
MODEL_REGISTRY_BUCKET = "model_registry"


class MakeTenant(Protocol):
    """The `make_tenant` fixture: `await make_tenant(scopes=["chat"], key_rpm=10, ...)`."""

    def __call__(
        self,
        *,
        rate_limit_rpm: int | None = None,
        rate_limit_tpm: int | None = None,
        key_rpm: int | None = None,
        key_tpm: int | None = None,
        scopes: list[str] | None = None,
    ) -> Awaitable[TenantWithKey]: ...


def pytest_configure(config: pytest.Config) -> None:
    """Anchor AIAAS_CLOCK_AT before any fixture starts a service, so every process shares one offset."""
    clock.offset_s()


@pytest.fixture(scope="session")
def infra_urls() -> InfraUrls:
    return infra_urls_from_env()


@pytest_asyncio.fixture(scope="session")
async def runtime_engine(infra_urls: InfraUrls) -> AsyncIterator[AsyncEngine]:
    """Engine connected as app_runtime (RLS-bound)."""
    engine = create_engine(infra_urls.database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def admin_engine(infra_urls: InfraUrls) -> AsyncIterator[AsyncEngine]:
    """Engine connected as platform_admin (cross-tenant)."""
    engine = create_engine(infra_urls.admin_database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def runtime_sessions(runtime_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(runtime_engine)


@pytest.fixture(scope="session")
def admin_sessions(admin_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(admin_engine)


@pytest.fixture(scope="session")
def make_tenant(admin_sessions: async_sessionmaker[AsyncSession]) -> MakeTenant:
    """Factory: a fresh tenant with one API key (unique slug per call).

    The key holds every tenant scope unless `scopes` narrows it (e.g. `scopes=["chat"]`).
    """

    def _make(
        *,
        rate_limit_rpm: int | None = None,
        rate_limit_tpm: int | None = None,
        key_rpm: int | None = None,
        key_tpm: int | None = None,
        scopes: list[str] | None = None,
    ) -> Awaitable[TenantWithKey]:
        return create_tenant_with_key(
            admin_sessions,
            rate_limit_rpm=rate_limit_rpm,
            rate_limit_tpm=rate_limit_tpm,
            key_rpm=key_rpm,
            key_tpm=key_tpm,
            scopes=scopes,
        )

    return _make


@pytest_asyncio.fixture(scope="session")
async def make_admin_key() -> AsyncIterator[Callable[..., Awaitable[AdminKey]]]:
    """Factory: a fresh named admin key in the database (`name` defaults to a unique one); all are
    deleted when the session ends."""
    engine = create_engine(owner_database_url(), pool_size=1)
    sessions = session_factory(engine)
    made: list[uuid.UUID] = []

    async def _make(name: str | None = None) -> AdminKey:
        key = await create_test_admin_key(sessions, name)
        made.append(key.key_id)
        return key

    yield _make
    async with admin_session(sessions) as session:
        await delete_admin_keys(session, made)
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def admin_key(make_admin_key: Callable[..., Awaitable[AdminKey]]) -> AdminKey:
    """The test session's platform-admin key (one named key for every /admin call)."""
    return await make_admin_key()


@pytest.fixture(scope="session")
def admin_headers(admin_key: AdminKey) -> dict[str, str]:
    """`Authorization: Bearer <the session's admin key>` for /admin routes of every service."""
    return admin_key.auth


@pytest_asyncio.fixture
async def nats_client(infra_urls: InfraUrls) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(infra_urls.nats_url)
    yield nc
    await nc.drain()


@pytest_asyncio.fixture
async def redis_client(infra_urls: InfraUrls) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.from_url(infra_urls.redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def new_model_alias(
    admin_sessions: async_sessionmaker[AsyncSession], infra_urls: InfraUrls
) -> AsyncIterator[Callable[[], str]]:
    """Unique model-registry aliases; their rows, then their shared-bucket keys, are deleted after the test.

    Rows first: a running control plane's republisher then has nothing to put back once a key is gone.
    """
    made: list[str] = []

    def _new() -> str:
        made.append(f"regtest-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield _new
    async with admin_session(admin_sessions) as session:
        await delete_model_aliases(session, made)
    nc = await nats.connect(infra_urls.nats_url)
    try:
        kv = await nc.jetstream().key_value(MODEL_REGISTRY_BUCKET)
        for alias in made:
            with contextlib.suppress(KeyNotFoundError):
                await kv.get(alias)
                await kv.purge(alias)
    except BucketNotFoundError:
        pass
    finally:
        await nc.close()
