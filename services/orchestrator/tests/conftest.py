"""Orchestrator test fixtures shared by the suites (api, engine, worker, e2e): the real API process on the shared
Postgres and NATS (app_runtime only), and tenants whose key holds the `orchestrator` scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiaas import clock
from aiaas.scopes import ORCHESTRATOR
from aiaas_testing import InfraUrls, NatsServer, ServiceProcess, TenantWithKey, free_port
from aiaas_testing.plugin import MakeTenant


def orchestrator_env(infra_urls: InfraUrls, **overrides: str) -> dict[str, str]:
    """An orchestrator process's env: app_runtime only (aiaas.roles), no tracing, no metrics listeners, the tests'
    clock; `overrides` on top (e.g. ORCH_GATEWAY_URL, ORCH_SERVICE_KEY for the worker)."""
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "ORCH_AUTH_CACHE_TTL_S": "0.5",
        "ORCH_TRACING": "false",
        "ORCH_METRICS_PORT": "0",
        "ORCH_WORKER_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        clock.OFFSET_ENV: repr(clock.offset_s()),
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def orch_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the suite's processes write their logs."""
    return tmp_path_factory.mktemp("orchestrator-run")


@dataclass(frozen=True)
class ApiProcess:
    url: str
    nats_url: str


def _start_api(orch_run_dir: Path, env: dict[str, str]) -> tuple[ServiceProcess, str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "orchestrator", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=orch_run_dir / f"orchestrator-api-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def orchestrator_url(orch_run_dir: Path, infra_urls: InfraUrls) -> Iterator[str]:
    """One orchestrator API process (`python -m orchestrator`) on the shared Postgres and NATS, for suites that run
    a worker beside it (its run requests reach the shared ORCH stream); its base URL."""
    proc, url = _start_api(orch_run_dir, orchestrator_env(infra_urls))
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def orch_api(orch_run_dir: Path, infra_urls: InfraUrls) -> Iterator[ApiProcess]:
    """An orchestrator API on the shared Postgres and a NATS of its own: the API suite's runs stay queued (no
    worker of another suite takes them) and its run requests can be read back from that NATS's ORCH stream."""
    nats_server = NatsServer(orch_run_dir / "nats").start()
    env = orchestrator_env(infra_urls, ORCH_WAIT_MAX_S="3", ORCH_SSE_POLL_S="0.05", ORCH_SSE_HEARTBEAT_S="0.3")
    env["NATS_URL"] = nats_server.url
    try:
        proc, url = _start_api(orch_run_dir, env)
    except BaseException:
        nats_server.stop()
        raise
    yield ApiProcess(url=url, nats_url=nats_server.url)
    proc.stop()
    nats_server.stop()


@pytest.fixture(scope="session")
def make_orch_tenant(make_tenant: MakeTenant) -> Callable[[], Awaitable[TenantWithKey]]:
    """Factory: a fresh tenant whose one key holds only the `orchestrator` scope."""

    def _make() -> Awaitable[TenantWithKey]:
        return make_tenant(scopes=[ORCHESTRATOR])

    return _make
