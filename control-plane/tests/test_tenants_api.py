"""Admin API: tenants and keys; the secret is shown once; revoke takes effect."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import openai
import pytest


@pytest.fixture
async def http(gateway_url):
    async with aiohttp.ClientSession(base_url=gateway_url) as session:
        yield session


async def test_admin_requires_the_platform_key(http, make_tenant):
    tenant = await make_tenant()
    for headers in ({}, tenant.auth, {"Authorization": "Bearer wrong"}):
        async with http.post("/admin/tenants", json={"name": "x", "slug": "x"}, headers=headers) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "invalid_admin_key"


async def test_create_tenant_key_use_list_revoke(http, gateway_url, admin_headers):
    ADMIN = admin_headers
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    async with http.post("/admin/tenants", json={"name": "Acme", "slug": slug}, headers=ADMIN) as resp:
        assert resp.status == 201
        tenant = await resp.json()
    assert tenant["slug"] == slug and tenant["status"] == "active"

    async with http.post("/admin/tenants", json={"name": "Acme", "slug": slug}, headers=ADMIN) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "tenant_exists"

    async with http.post(f"/admin/tenants/{tenant['id']}/keys", json={"name": "ci"}, headers=ADMIN) as resp:
        assert resp.status == 201
        created = await resp.json()
    key = created["key"]
    assert key.startswith(created["prefix"])

    client = openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    reply = await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content

    async with http.get(f"/admin/tenants/{tenant['id']}/keys", headers=ADMIN) as resp:
        keys = await resp.json()
    assert [k["id"] for k in keys] == [created["id"]]
    assert "key" not in keys[0]

    async with http.post(f"/admin/tenants/{tenant['id']}/keys/{created['id']}/revoke", headers=ADMIN) as resp:
        assert resp.status == 200
        assert (await resp.json())["revoked_at"] is not None
    await asyncio.sleep(0.6)  # other processes' auth caches expire (0.5 s in tests)
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])


async def test_admin_bad_input(http, admin_headers):
    ADMIN = admin_headers
    async with http.post("/admin/tenants", json={"name": "", "slug": "Bad Slug"}, headers=ADMIN) as resp:
        assert resp.status == 422
        assert "error" in await resp.json()
    async with http.post(f"/admin/tenants/{uuid.uuid4()}/keys", json={"name": "k"}, headers=ADMIN) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "tenant_not_found"
    async with http.get("/admin/tenants/not-a-uuid/keys", headers=ADMIN) as resp:
        assert resp.status == 422


async def test_admin_limits_at_their_bounds(http, admin_headers):
    slug = f"big-{uuid.uuid4().hex[:8]}"
    body = {"name": "Big", "slug": slug, "rate_limit_rpm": 10_000_000, "rate_limit_tpm": 10_000_000_000}
    async with http.post("/admin/tenants", json=body, headers=admin_headers) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["rate_limit_tpm"] == 10_000_000_000
    over = {**body, "slug": slug + "x", "rate_limit_rpm": 10_000_001}
    async with http.post("/admin/tenants", json=over, headers=admin_headers) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["param"] == "rate_limit_rpm"
