"""Control-plane test fixtures: the real service process on the shared Postgres and NATS, a private KV bucket."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import nats
import pytest

from aiaas_testing import InfraUrls, free_port

from .factories import ADMIN, CREATED_FLAGS, cp_env, start_control_plane


@pytest.fixture(scope="session", autouse=True)
def _admin_authorization(admin_headers: dict[str, str]) -> None:
    ADMIN.update(admin_headers)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("control-plane-run")


@pytest.fixture(scope="session")
async def bucket(infra_urls: InfraUrls) -> AsyncIterator[str]:
    """A KV bucket private to this test session (the real one is `flags`)."""
    name = f"flags_test_{uuid.uuid4().hex[:10]}"
    yield name
    nc = await nats.connect(infra_urls.nats_url)
    try:
        await nc.jetstream().delete_key_value(name)
    except nats.js.errors.NotFoundError:
        pass
    await nc.close()


@pytest.fixture(scope="session")
def cp_metrics_port() -> int:
    """The metrics listener of the shared control plane (CONTROL_PLANE_METRICS_PORT)."""
    return free_port()


@pytest.fixture(scope="session")
def cp_url(run_dir: Path, infra_urls: InfraUrls, bucket: str, cp_metrics_port: int) -> Iterator[str]:
    """One control-plane process shared by the tests; `groq` is a declared credential (api.groq.com)."""
    env = cp_env(
        infra_urls,
        bucket,
        CONTROL_PLANE_METRICS_PORT=str(cp_metrics_port),
        PROVIDER_CREDENTIAL_HOSTS=json.dumps({"groq": ["api.groq.com"]}),
    )
    proc, url = start_control_plane(run_dir, env)
    yield url
    for key in sorted(CREATED_FLAGS):
        request = urllib.request.Request(
            f"{url}/admin/flags/{key}",
            data=json.dumps({"reason": "test cleanup"}).encode(),
            method="DELETE",
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError:
            pass  # already deleted by the test
    proc.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
