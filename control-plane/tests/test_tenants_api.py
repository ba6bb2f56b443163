"""Tenant administration on the control plane: tenants and keys; the secret is shown once; revoke takes effect."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from aiaas.auth import ApiKeyResolver
from aiaas.errors import Unauthorized

from .factories import ADMIN


@pytest.fixture
async def api(cp_url):
    async with aiohttp.ClientSession(base_url=cp_url) as session:
        yield session


async def test_tenant_admin_requires_the_platform_key(api, make_tenant):
    tenant = await make_tenant()
    for headers in ({}, tenant.auth, {"Authorization": "Bearer wrong"}):
        async with api.post("/admin/tenants", json={"name": "x", "slug": "x"}, headers=headers) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "invalid_admin_key"


async def test_create_tenant_key_resolve_list_revoke(api, runtime_engine):
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    async with api.post("/admin/tenants", json={"name": "Acme", "slug": slug}, headers=ADMIN) as resp:
        assert resp.status == 201
        tenant = await resp.json()
    assert tenant["slug"] == slug and tenant["status"] == "active"
    assert (tenant["rate_limit_rpm"], tenant["rate_limit_tpm"]) == (None, None)

    async with api.post("/admin/tenants", json={"name": "Acme", "slug": slug}, headers=ADMIN) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "tenant_exists"

    body = {"name": "ci", "scopes": ["chat", "billing:read"], "rpm_limit": 60}
    async with api.post(f"/admin/tenants/{tenant['id']}/keys", json=body, headers=ADMIN) as resp:
        assert resp.status == 201
        created = await resp.json()
    key = created["key"]
    assert key.startswith(created["prefix"])
    assert (created["tenant_id"], created["scopes"], created["rpm_limit"]) == (
        tenant["id"],
        ["chat", "billing:read"],
        60,
    )

    # What every tenant-facing service does with the key: resolve it as app_runtime (no cache here).
    resolver = ApiKeyResolver(runtime_engine, cache_ttl_s=0)
    principal = await resolver.resolve(f"Bearer {key}")
    assert str(principal.tenant_id) == tenant["id"]

    async with api.get(f"/admin/tenants/{tenant['id']}/keys", headers=ADMIN) as resp:
        assert resp.status == 200
        keys = await resp.json()
    assert [k["id"] for k in keys] == [created["id"]]
    assert "key" not in keys[0]

    async with api.post(f"/admin/tenants/{tenant['id']}/keys/{created['id']}/revoke", headers=ADMIN) as resp:
        assert resp.status == 200
        revoked = await resp.json()
    assert revoked["revoked_at"] is not None
    with pytest.raises(Unauthorized):
        await resolver.resolve(f"Bearer {key}")

    # Revoking again keeps the first revocation time.
    async with api.post(f"/admin/tenants/{tenant['id']}/keys/{created['id']}/revoke", headers=ADMIN) as resp:
        assert resp.status == 200
        assert (await resp.json())["revoked_at"] == revoked["revoked_at"]


async def test_tenant_admin_bad_input(api):
    async with api.post("/admin/tenants", json={"name": "", "slug": "Bad Slug"}, headers=ADMIN) as resp:
        assert resp.status == 422
        assert set(await resp.json()) == {"error"}
    async with api.post(f"/admin/tenants/{uuid.uuid4()}/keys", json={"name": "k"}, headers=ADMIN) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "tenant_not_found"
    async with api.post(f"/admin/tenants/{uuid.uuid4()}/keys/{uuid.uuid4()}/revoke", headers=ADMIN) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "api_key_not_found"
    async with api.get("/admin/tenants/not-a-uuid/keys", headers=ADMIN) as resp:
        assert resp.status == 422
    # Found by the OpenAPI fuzz: a NUL in a name was Postgres's error, a 500.
    body = {"name": "a\u0000b", "slug": f"nul-{uuid.uuid4().hex[:8]}"}
    async with api.post("/admin/tenants", json=body, headers=ADMIN) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["param"] == "name"


async def test_tenant_limits_at_their_bounds(api):
    slug = f"big-{uuid.uuid4().hex[:8]}"
    body = {"name": "Big", "slug": slug, "rate_limit_rpm": 10_000_000, "rate_limit_tpm": 10_000_000_000}
    async with api.post("/admin/tenants", json=body, headers=ADMIN) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["rate_limit_tpm"] == 10_000_000_000
    over = {**body, "slug": slug + "x", "rate_limit_rpm": 10_000_001}
    async with api.post("/admin/tenants", json=over, headers=ADMIN) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["param"] == "rate_limit_rpm"
