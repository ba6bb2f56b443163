"""Keys are administered on the control plane: the gateway serves no /admin route, and a key revoked there
stops working on the gateway within GATEWAY_AUTH_CACHE_TTL_S (0.5 s in these tests)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import aiohttp
import openai
import pytest

from aiaas_testing import ServiceProcess, free_port

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=control_plane_env,
        log_path=run_dir / f"control-plane-keys-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


async def test_gateway_serves_no_tenant_admin(gateway_url, admin_headers):
    async with aiohttp.ClientSession(base_url=gateway_url) as http:
        for method, path in (("POST", "/admin/tenants"), ("GET", f"/admin/tenants/{uuid.uuid4()}/keys")):
            async with http.request(method, path, json={"name": "x", "slug": "x"}, headers=admin_headers) as resp:
                assert resp.status == 404, (method, path)
                assert set(await resp.json()) == {"error"}
        async with http.get("/openapi.json") as resp:
            assert not [path for path in (await resp.json())["paths"] if path.startswith("/admin")]


async def test_key_made_and_revoked_on_the_control_plane(control_plane, gateway_url, admin_headers):
    async with aiohttp.ClientSession(base_url=control_plane, headers=admin_headers) as cp:
        slug = f"rev-{uuid.uuid4().hex[:8]}"
        async with cp.post("/admin/tenants", json={"name": "Revoke", "slug": slug}) as resp:
            assert resp.status == 201
            tenant = await resp.json()
        async with cp.post(f"/admin/tenants/{tenant['id']}/keys", json={"name": "ci"}) as resp:
            assert resp.status == 201
            created = await resp.json()

        client = openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=created["key"], max_retries=0)
        reply = await client.chat.completions.create(model="chat", messages=HI)
        assert reply.choices[0].message.content

        async with cp.post(f"/admin/tenants/{tenant['id']}/keys/{created['id']}/revoke") as resp:
            assert resp.status == 200
    # The gateway's cache held the key as valid for at most its TTL; after that every request is refused.
    await asyncio.sleep(0.6)
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="chat", messages=HI)
