"""The platform the corpus is recorded on: real processes on a throwaway database and a private NATS.

Provider simulator, gateway, toolbox, ingestion, the orchestrator API and its worker, started as
`python -m <service>` with the roles' DSNs (app_runtime; the worker also platform_admin for its sweeper). A database
and a NATS of its own because the ORCH stream is a work queue and the outbox is relayed by whoever runs a relay on
the same database: another session's worker could take these runs.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404: our own CLIs
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import create_engine, session_factory
from aiaas_testing import InfraUrls, NatsServer, ServiceProcess, free_port
from aiaas_testing.admin_keys import AdminKey, create_test_admin_key
from aiaas_testing.infra import infra_urls_from_env, owner_database_url

__all__ = ["CorpusStack", "RunningStack", "running_stack"]

_DSNS = ("DATABASE_URL", "ADMIN_DATABASE_URL", "MIGRATION_DATABASE_URL", "PG_SUPERUSER_URL")
_SUPERUSER = "postgresql://postgres:postgres@127.0.0.1:55432/postgres"


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@dataclass
class CorpusStack:
    run_dir: Path
    db_name: str = field(default_factory=lambda: f"aiaas_corpus_{uuid.uuid4().hex[:8]}")
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    infra: InfraUrls | None = None
    owner_url: str = ""

    # --- database ------------------------------------------------------------------------------------------------
    def create_database(self) -> InfraUrls:
        shared = infra_urls_from_env()
        self.infra = InfraUrls(
            database_url=_with_database(shared.database_url, self.db_name),
            admin_database_url=_with_database(shared.admin_database_url, self.db_name),
            nats_url=shared.nats_url,
            redis_url=shared.redis_url,
        )
        self.owner_url = _with_database(owner_database_url(), self.db_name)
        env = {
            **os.environ,
            "DATABASE_URL": self.infra.database_url,
            "ADMIN_DATABASE_URL": self.infra.admin_database_url,
            "MIGRATION_DATABASE_URL": self.owner_url,
        }
        for step in ("bootstrap", "migrate"):
            done = subprocess.run(  # noqa: S603  # nosec B603
                [sys.executable, "-m", "data_plane", step], env=env, timeout=300, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(f"data_plane {step} failed:\n{done.stderr[-3000:]}")
        return self.infra

    async def drop_database(self) -> None:
        conn = await asyncpg.connect(os.environ.get("PG_SUPERUSER_URL", _SUPERUSER))
        try:
            await conn.execute(f'drop database if exists "{self.db_name}" with (force)')
        finally:
            await conn.close()

    # --- processes -----------------------------------------------------------------------------------------------
    def _env(self, *, admin: bool = False, **extra: str) -> dict[str, str]:
        assert self.infra is not None and self.nats is not None
        env = {key: value for key, value in os.environ.items() if key not in _DSNS}
        env.update(
            {
                "DATABASE_URL": self.infra.database_url,
                "NATS_URL": self.nats.url,
                "REDIS_URL": self.infra.redis_url,
                "LOG_LEVEL": "WARNING",
                "OPENAI_API_KEY": "",
                "ANTHROPIC_API_KEY": "",
                clock.OFFSET_ENV: repr(clock.offset_s()),
            }
        )
        if admin:
            env["ADMIN_DATABASE_URL"] = self.infra.admin_database_url
        env.update(extra)
        return env

    def _start(self, name: str, args: list[str], env: dict[str, str], ready_url: str) -> None:
        self.procs[name] = ServiceProcess(
            args, env=env, log_path=self.run_dir / f"{name}.log", ready_url=ready_url, inherit_env=False
        ).start()

    def _http(self, name: str, module: str, env: dict[str, str], ready_path: str = "/health/ready") -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self._start(name, ["-m", module, "--host", "127.0.0.1", "--port", str(port)], env, url + ready_path)
        self.urls[name] = url
        return url

    def start(self, service_key_name: str, service_key: str) -> None:
        """Every process; the gateway serves the default catalogue from the simulator."""
        self.nats = NatsServer(self.run_dir / "nats").start()
        sim = self._http("provider-sim", "provider_sim", self._env(), ready_path="/health")
        self._http(
            "gateway",
            "gateway",
            self._env(
                GATEWAY_PROVIDER_SIM_URL=sim,
                GATEWAY_SERVICE_KEY_NAMES=service_key_name,
                GATEWAY_USAGE_WAL_DIR=str(self.run_dir / "wal"),
                GATEWAY_METRICS_PORT="0",
                GATEWAY_USAGE_WRITER_METRICS_PORT="0",
            ),
        )
        self._http("toolbox", "toolbox", self._env(TOOLBOX_METRICS_PORT="0"))
        self._http(
            "ingestion",
            "ingestion",
            self._env(
                INGESTION_SERVICE_KEY_NAMES=service_key_name,
                INGESTION_METRICS_PORT="0",
                INGESTION_TRACING="false",
                INGESTION_AUTH_CACHE_TTL_S="0.5",
            ),
        )
        self._http(
            "orchestrator",
            "orchestrator",
            self._env(ORCH_METRICS_PORT="0", ORCH_TRACING="false", ORCH_AUTH_CACHE_TTL_S="0.5", ORCH_WAIT_MAX_S="30"),
        )
        port = free_port()
        self._start(
            "worker",
            ["-m", "orchestrator", "work"],
            self._env(
                admin=True,
                ORCH_SERVICE_KEY=service_key,
                ORCH_GATEWAY_URL=self.urls["gateway"],
                ORCH_TOOLBOX_URL=self.urls["toolbox"],
                ORCH_INGESTION_URL=self.urls["ingestion"],
                ORCH_METRICS_PORT="0",
                ORCH_WORKER_METRICS_PORT=str(port),
                ORCH_TRACING="false",
                ORCH_TOOL_DEADLINE_S="10",
                ORCH_COMP_MAX_AGE_S="20",
            ),
            f"http://127.0.0.1:{port}/metrics",
        )

    def stop(self) -> None:
        """Stop the processes and the NATS (the database is dropped by `drop_database`)."""
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        if self.nats is not None:
            self.nats.stop()


@dataclass(frozen=True)
class RunningStack:
    """A started stack: its URLs, the database's URL and sessions (app_runtime, platform_admin), the service key."""

    stack: CorpusStack
    database_url: str
    runtime: async_sessionmaker[AsyncSession]
    admin: async_sessionmaker[AsyncSession]
    service_key: AdminKey

    @property
    def urls(self) -> dict[str, str]:
        return self.stack.urls


@asynccontextmanager
async def running_stack(run_dir: Path) -> AsyncIterator[RunningStack]:
    """Database, service key and processes up; everything stopped, disposed and dropped on the way out."""
    stack = CorpusStack(run_dir)
    infra = stack.create_database()
    owner = create_engine(stack.owner_url, pool_size=1)
    admin = create_engine(infra.admin_database_url, pool_size=2)
    runtime = create_engine(infra.database_url, pool_size=4)
    try:
        key = await create_test_admin_key(session_factory(owner), f"orchestrator-corpus-{uuid.uuid4().hex[:8]}")
        stack.start(key.name, key.key)
        yield RunningStack(stack, infra.database_url, session_factory(runtime), session_factory(admin), key)
    finally:
        stack.stop()
        for engine in (owner, admin, runtime):
            await engine.dispose()
        await stack.drop_database()
