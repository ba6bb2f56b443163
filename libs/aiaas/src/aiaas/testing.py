"""pytest plugin shared by every test suite: real infrastructure, factories for tenants and keys.

Loaded from the root conftest.py. URLs come from the environment (what
`deploy/local/infra.py env` prints), defaulting to the project-local ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import nats
import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio
from aiohttp import web
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.admin_keys import create_admin_key
from aiaas.db import admin_session, create_engine, session_factory
from aiaas.local_servers import NatsServer, RedisServer, free_port
from aiaas.scopes import ALL_SCOPES
from aiaas.settings import LOCAL_DEFAULTS
from aiaas.tenancy import TenantRow, create_api_key, create_tenant

__all__ = [
    "InfraUrls",
    "TenantWithKey",
    "AdminKey",
    "ServiceProcess",
    "NatsServer",
    "RedisServer",
    "free_port",
    "serve_local",
    "metric_value",
    "scrape_metrics",
]


def pytest_configure(config: pytest.Config) -> None:
    """Anchor AIAAS_CLOCK_AT before any fixture starts a service, so every process shares one offset."""
    clock.offset_s()


@asynccontextmanager
async def serve_local(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app on 127.0.0.1 (a free port) while the block runs; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def scrape_metrics(url: str) -> list[Sample]:
    """Every sample a metrics listener serves (`url`: `http://host:port`, with or without `/metrics`)."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
        text = await resp.text()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric_value(samples: Sequence[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


class ServiceProcess:
    """A real service started as an OS process for a test, stopped (or killed) by the test."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready_url: str | None = None,
        inherit_env: bool = True,
    ) -> None:
        self.args = [sys.executable, *args]
        # `inherit_env=False`: exactly `env` (a process whose DSNs must be only its roles', aiaas.roles),
        # plus the run's clock offset: every process of a test reads the same (possibly shifted) clock.
        self.env = {**os.environ, **env} if inherit_env else {clock.OFFSET_ENV: repr(clock.offset_s()), **env}
        self.log_path = log_path
        self.ready_url = ready_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - test helper starting our own services
        if self.ready_url:
            try:
                self._wait_ready(timeout_s)
            except BaseException:
                self.stop()  # never ready: no caller holds it to stop it later
                raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.ready_url is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited early; log:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as resp:  # noqa: S310  # nosec B310 - test-local URL
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            time.sleep(0.1)
        raise RuntimeError(f"{self.args} not ready in {timeout_s}s; log:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@dataclass(frozen=True)
class InfraUrls:
    database_url: str
    admin_database_url: str
    nats_url: str
    redis_url: str


@dataclass(frozen=True)
class TenantWithKey:
    tenant: TenantRow
    api_key: str
    key_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.tenant.id

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


# The project-local platform_admin DSN (what `deploy/local/infra.py env` prints) for a bare `pytest` run.
_LOCAL_ADMIN_DATABASE_URL = "postgresql+asyncpg://platform_admin:platform_admin@127.0.0.1:55432/aiaas"


@pytest.fixture(scope="session")
def infra_urls() -> InfraUrls:
    return InfraUrls(
        database_url=os.environ.get("DATABASE_URL", LOCAL_DEFAULTS["DATABASE_URL"]),
        # Tests seed tenants across tenants; no service default exists for this role (aiaas.roles).
        admin_database_url=os.environ.get("ADMIN_DATABASE_URL", _LOCAL_ADMIN_DATABASE_URL),
        nats_url=os.environ.get("NATS_URL", LOCAL_DEFAULTS["NATS_URL"]),
        redis_url=os.environ.get("REDIS_URL", LOCAL_DEFAULTS["REDIS_URL"]),
    )


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
def make_tenant(
    admin_sessions: async_sessionmaker[AsyncSession],
) -> Callable[..., Awaitable[TenantWithKey]]:
    """Factory: a fresh tenant with one API key (unique slug per call).

    The key holds every tenant scope unless `scopes` narrows it (e.g. `scopes=["chat"]`).
    """

    async def _make(
        *,
        rate_limit_rpm: int | None = None,
        rate_limit_tpm: int | None = None,
        key_rpm: int | None = None,
        key_tpm: int | None = None,
        scopes: list[str] | None = None,
    ) -> TenantWithKey:
        slug = f"t-{uuid.uuid4().hex[:12]}"
        async with admin_session(admin_sessions) as session:
            tenant = await create_tenant(
                session,
                name=f"Tenant {slug}",
                slug=slug,
                rate_limit_rpm=rate_limit_rpm,
                rate_limit_tpm=rate_limit_tpm,
            )
            key_row, new = await create_api_key(
                session,
                tenant_id=tenant.id,
                name="test key",
                scopes=list(ALL_SCOPES) if scopes is None else scopes,
                rpm_limit=key_rpm,
                tpm_limit=key_tpm,
            )
        return TenantWithKey(tenant=tenant, api_key=new.plaintext, key_id=key_row.id)

    return _make


# The database owner's DSN (what `deploy/local/infra.py env` prints as MIGRATION_DATABASE_URL): the one
# role that may write admin_keys.
_LOCAL_OWNER_DATABASE_URL = "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas"


@dataclass(frozen=True)
class AdminKey:
    """A named platform-admin key made for tests: its name is what audits show as the actor."""

    name: str
    key: str
    key_id: uuid.UUID

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest_asyncio.fixture(scope="session")
async def make_admin_key() -> AsyncIterator[Callable[..., Awaitable[AdminKey]]]:
    """Factory: a fresh named admin key in the database (`name` defaults to a unique one); all are
    deleted when the session ends."""
    engine = create_engine(os.environ.get("MIGRATION_DATABASE_URL", _LOCAL_OWNER_DATABASE_URL), pool_size=1)
    sessions = session_factory(engine)
    made: list[uuid.UUID] = []

    async def _make(name: str | None = None) -> AdminKey:
        async with admin_session(sessions) as session:
            row, plaintext = await create_admin_key(
                session, name=name or f"test-admin-{uuid.uuid4().hex[:10]}", created_by="pytest"
            )
        made.append(row.id)
        return AdminKey(name=row.name, key=plaintext, key_id=row.id)

    yield _make
    async with admin_session(sessions) as session:
        await session.execute(text("delete from admin_keys where id = any(:ids)"), {"ids": made})
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


# The control plane publishes model aliases to this bucket; gateways mirror it.
MODEL_REGISTRY_BUCKET = "model_registry"


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
        await session.execute(text("delete from model_registry where alias = any(:a)"), {"a": made})
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
