"""Platform-admin keys: the CLI (as the owner), the roles that cannot read them, resolution and revocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas.admin_keys import list_admin_keys
from aiaas.auth import ADMIN_KEY_PREFIX, AdminKeyResolver, AdminPrincipal, hash_api_key
from aiaas.db import admin_session, create_engine, session_factory
from aiaas.errors import Unauthorized

OWNER_URL = os.environ.get(
    "MIGRATION_DATABASE_URL", "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas"
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "data_plane", "admin-keys", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
async def owner_sessions():
    engine = create_engine(OWNER_URL, pool_size=1)
    made: list[str] = []
    yield session_factory(engine), made
    async with admin_session(session_factory(engine)) as session:
        await session.execute(text("delete from admin_keys where name = any(:n)"), {"n": made})
    await engine.dispose()


async def test_cli_creates_lists_and_revokes_named_keys(owner_sessions, runtime_engine) -> None:
    sessions, made = owner_sessions
    name = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    made.append(name)
    created = _cli("create", name, "--created-by", "alice")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith(ADMIN_KEY_PREFIX) and len(secret) > 40
    assert "not shown again" in created.stderr

    listed = _cli("list", "--json")
    assert listed.returncode == 0 and secret not in listed.stdout
    row = next(r for r in json.loads(listed.stdout) if r["name"] == name)
    assert (row["prefix"], row["created_by"], row["revoked_at"]) == (secret[:17], "alice", None)
    async with admin_session(sessions) as session:
        stored = (
            await session.execute(text("select key_hash from admin_keys where name = :n"), {"n": name})
        ).scalar_one()
    assert stored == hash_api_key(secret)  # only the hash is kept

    resolver = AdminKeyResolver(runtime_engine, cache_ttl_s=0)
    admin = await resolver.resolve(f"Bearer {secret}")
    assert admin == AdminPrincipal(key_id=uuid.UUID(row["id"]), name=name)

    again = _cli("create", name)
    assert again.returncode == 1 and "admin_key_exists" in again.stderr
    bad = _cli("create", "Not A Name")
    assert bad.returncode == 1 and "invalid_admin_key_name" in bad.stderr

    revoked = _cli("revoke", name)
    assert revoked.returncode == 0 and f"'{name}' revoked" in revoked.stdout
    with pytest.raises(Unauthorized) as refused:
        await resolver.resolve(f"Bearer {secret}")
    assert refused.value.code == "invalid_admin_key"
    async with admin_session(sessions) as session:
        rows = {r.name: r for r in await list_admin_keys(session)}
    assert rows[name].revoked_at is not None and not rows[name].active
    missing = _cli("revoke", f"nobody-{uuid.uuid4().hex[:6]}")
    assert missing.returncode == 1 and "admin_key_not_found" in missing.stderr


async def test_service_roles_cannot_read_admin_keys_only_resolve_them(
    runtime_engine, admin_engine, make_admin_key
) -> None:
    key = await make_admin_key()
    for engine in (runtime_engine, admin_engine):  # app_runtime, platform_admin
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                await conn.execute(text("select count(*) from admin_keys"))
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("select key_id, name, active from auth_lookup_admin_key(:h)"), {"h": hash_api_key(key.key)}
                )
            ).one()
        assert (row.key_id, row.name, row.active) == (key.key_id, key.name, True)


async def test_resolver_refuses_anything_but_an_active_admin_key(runtime_engine, make_admin_key, make_tenant) -> None:
    resolver = AdminKeyResolver(runtime_engine, cache_ttl_s=0)
    tenant = await make_tenant()
    unknown = ADMIN_KEY_PREFIX + "x" * 32
    for header in (
        None,
        "",
        "Bearer",
        f"Bearer {tenant.api_key}",
        f"Bearer {unknown}",
        "Basic abc",
        "Bearer " + "y" * 300,
    ):
        with pytest.raises(Unauthorized) as refused:
            await resolver.resolve(header)
        assert refused.value.code == "invalid_admin_key", header
    key = await make_admin_key()
    assert (await resolver.resolve(f"bearer  {key.key} ")).name == key.name


async def test_revocation_counts_within_the_ttl_and_at_once_in_the_revoking_process(
    runtime_engine, make_admin_key, owner_sessions
) -> None:
    sessions, _ = owner_sessions
    key = await make_admin_key()
    cached = AdminKeyResolver(runtime_engine, cache_ttl_s=3600)
    assert (await cached.resolve(f"Bearer {key.key}")).key_id == key.key_id
    async with admin_session(sessions) as session:
        await session.execute(text("update admin_keys set revoked_at = now() where id = :id"), {"id": key.key_id})
    # Another process's revoke: this cache still holds the key until its TTL ends...
    assert (await cached.resolve(f"Bearer {key.key}")).name == key.name
    # ...while a process that revoked it says so and refuses it at once.
    cached.revoked(key.key_id)
    with pytest.raises(Unauthorized):
        await cached.resolve(f"Bearer {key.key}")
    fresh = AdminKeyResolver(runtime_engine, cache_ttl_s=0)
    with pytest.raises(Unauthorized):
        await fresh.resolve(f"Bearer {key.key}")
