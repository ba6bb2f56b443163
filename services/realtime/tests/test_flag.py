"""`realtime_enabled` off for one tenant (control plane) closes its sockets within a second and refuses new ones.

Other tenants keep their sockets; turning the flag back on lets the tenant connect again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from aiaas_testing import ServiceProcess, free_port
from aiaas_testing.realtime import close_code, open_ws, recv, send


@pytest.fixture(scope="module")
def control_plane(run_dir, infra_urls) -> Iterator[str]:
    port = free_port()
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "LOG_LEVEL": "WARNING",
    }
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"control-plane-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


async def _set(cp: str, admin: dict[str, str], tenant_id: object, enabled: bool) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{cp}/admin/flags/realtime_enabled/tenants/{tenant_id}",
            json={"value": enabled, "reason": f"test: realtime {'on' if enabled else 'off'}"},
            headers=admin,
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def _alive(ws) -> bool:
    await send(ws, type="ping")
    return (await recv(ws))["type"] == "pong"


async def test_flag_off_closes_the_tenants_sockets_and_refuses_new_ones(
    control_plane, rt_a, make_tenant, admin_headers
):
    off, other = await make_tenant(), await make_tenant()
    async with open_ws(rt_a.ws, off.api_key) as ws_off, open_ws(rt_a.ws, other.api_key) as ws_other:
        assert await _alive(ws_off) and await _alive(ws_other)
        await _set(control_plane, admin_headers, off.id, False)
        changed = time.monotonic()
        assert await close_code(ws_off, wait_s=5) == 4503
        took = time.monotonic() - changed
        print(f"\nrealtime_enabled=false closed the tenant's socket {took * 1000:.0f} ms after the API call")
        assert took < 1.0
        assert await _alive(ws_other), "another tenant is unaffected"

    async with open_ws(rt_a.ws, off.api_key) as ws:
        assert await close_code(ws, wait_s=5) == 4503, "new connections are refused"

    await _set(control_plane, admin_headers, off.id, True)
    await asyncio.sleep(0.5)
    async with open_ws(rt_a.ws, off.api_key) as ws:
        assert await _alive(ws)
