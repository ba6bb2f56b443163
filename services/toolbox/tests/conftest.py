"""A real toolbox process (`python -m toolbox`) on a free port, and a client bound to a fresh tenant per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from aiaas_testing import ServiceProcess, free_port

from .factories import Toolbox, Urls


@pytest.fixture(scope="session")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Urls]:
    """The toolbox subprocess (its API and its metrics listener), stopped at the end of the session."""
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "toolbox", "--host", "127.0.0.1", "--port", str(port)],
        env={"TOOLBOX_STALL_S": "3", "TOOLBOX_METRICS_PORT": str(metrics_port), "TOOLBOX_MAX_BODY_BYTES": "65536"},
        log_path=tmp_path_factory.mktemp("toolbox") / "server.log",
        ready_url=f"{url}/health/ready",
    ).start(timeout_s=20)
    yield Urls(api=url, metrics=f"http://127.0.0.1:{metrics_port}/metrics")
    process.stop()


@pytest.fixture(scope="session")
async def http(urls: Urls) -> AsyncIterator[httpx2.AsyncClient]:
    """One plain HTTP client for the session (generous pool: the concurrency tests open 20+ connections)."""
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx2.AsyncClient(base_url=urls.api, timeout=10, limits=limits) as client:
        yield client


@pytest.fixture
def tenant() -> str:
    """A tenant of this test alone: it starts with the demo data and nobody else's keys, faults or counters."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tb(http: httpx2.AsyncClient, tenant: str) -> Toolbox:
    return Toolbox(http, tenant)
