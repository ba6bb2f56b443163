"""Control-plane test fixtures: the real service process on the shared Postgres and NATS, a private KV bucket."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest

from aiaas_testing import InfraUrls, ServiceProcess, free_port

# The Authorization header of the session's named admin key (aiaas_testing.plugin `admin_headers`), filled in
# by the autouse fixture below before any test runs; `call` sends it unless given other headers.
ADMIN: dict[str, str] = {}
# Flags made by `new_flag`: deleted through the API when the session ends (their audit rows stay).
_CREATED: set[str] = set()


def cp_env(infra_urls: InfraUrls, bucket: str, **overrides: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "CONTROL_PLANE_FLAGS_BUCKET": bucket,
        "ADMIN_KEY_CACHE_TTL_S": "1",
        "CONTROL_PLANE_RECONCILE_INTERVAL_S": "1",
        "CONTROL_PLANE_PUBLISH_TIMEOUT_S": "1",
        "CONTROL_PLANE_TRACING": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


def start_control_plane(run_dir: Path, env: dict[str, str]) -> tuple[ServiceProcess, str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "control_plane", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"control-plane-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    return proc, f"http://127.0.0.1:{port}"


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
    for key in sorted(_CREATED):
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


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=ADMIN if headers is None else headers) as resp:
        return resp.status, await resp.json(content_type=None)


def flag_key(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def new_flag(http: aiohttp.ClientSession, url: str, type_: str, default: Any, **fields: Any) -> dict[str, Any]:
    """A fresh flag through the API (unique key)."""
    body = {"key": flag_key(), "type": type_, "default": default, "reason": "test", **fields}
    status, created = await call(http, "POST", f"{url}/admin/flags", body)
    assert status == 201, created
    _CREATED.add(created["key"])
    return created  # type: ignore[no-any-return]


def assert_error(status: int, body: Any, expected_status: int | None = None, code: str | None = None) -> None:
    assert 400 <= status < 500, (status, body)
    if expected_status is not None:
        assert status == expected_status, (status, body)
    assert set(body) == {"error"}, body
    assert all(isinstance(body["error"][k], str) for k in ("type", "code", "message")), body
    if code is not None:
        assert body["error"]["code"] == code, body
