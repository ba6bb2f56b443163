"""Helpers the control-plane tests import: admin calls, flag factories, a started control plane."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp

from aiaas_testing import InfraUrls, ServiceProcess, free_port

# The Authorization header of the session's named admin key (aiaas_testing.plugin `admin_headers`), filled in
# by conftest's autouse fixture before any test runs; `call` sends it unless given other headers.
ADMIN: dict[str, str] = {}
# Flags made by `new_flag`: deleted through the API when the session ends (their audit rows stay).
CREATED_FLAGS: set[str] = set()


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
    CREATED_FLAGS.add(created["key"])
    return created  # type: ignore[no-any-return]


def assert_error(status: int, body: Any, expected_status: int | None = None, code: str | None = None) -> None:
    assert 400 <= status < 500, (status, body)
    if expected_status is not None:
        assert status == expected_status, (status, body)
    assert set(body) == {"error"}, body
    assert all(isinstance(body["error"][k], str) for k in ("type", "code", "message")), body
    if code is not None:
        assert body["error"]["code"] == code, body
