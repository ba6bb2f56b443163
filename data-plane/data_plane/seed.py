"""Seed a demo tenant with an API key (idempotent).

Only the key's hash is stored, so the plaintext is kept in a git-ignored file;
a rerun prints it again while it is still valid (and holds every tenant scope), else issues a new one.
The demo key holds every tenant scope: `make dev` demos chat, billing and analytics with it.
"""

from __future__ import annotations

from pathlib import Path

from aiaas.auth import ApiKeyResolver
from aiaas.db import admin_session, create_engine, session_factory
from aiaas.errors import Unauthorized
from aiaas.scopes import ALL_SCOPES
from aiaas.tenancy import create_api_key, create_tenant, get_tenant_by_slug
from data_plane.config import DataPlaneSettings

__all__ = ["seed_demo"]


async def seed_demo(settings: DataPlaneSettings, key_file: Path, *, slug: str = "demo") -> dict[str, str]:
    admin_engine = create_engine(settings.admin_database_url, pool_size=1)
    runtime_engine = create_engine(settings.database_url, pool_size=1)
    try:
        sessions = session_factory(admin_engine)
        async with admin_session(sessions) as session:
            tenant = await get_tenant_by_slug(session, slug)
            if tenant is None:
                tenant = await create_tenant(session, name="Demo Tenant", slug=slug)
        if key_file.exists():  # noqa: ASYNC240 - a one-shot CLI, not a server
            key = key_file.read_text().strip()  # noqa: ASYNC240 - a one-shot CLI, not a server
            try:
                principal = await ApiKeyResolver(runtime_engine).resolve(f"Bearer {key}")
                if principal.tenant_id == tenant.id and all(principal.has_scope(s) for s in ALL_SCOPES):
                    return {"tenant_id": str(tenant.id), "api_key": key}
            except Unauthorized:
                pass  # stale or revoked: issue a new key below
        async with admin_session(sessions) as session:
            _, new = await create_api_key(session, tenant_id=tenant.id, name="demo key", scopes=list(ALL_SCOPES))
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(new.plaintext + "\n")  # noqa: ASYNC240 - a one-shot CLI, not a server
        key_file.chmod(0o600)  # noqa: ASYNC240 - a one-shot CLI, not a server
        return {"tenant_id": str(tenant.id), "api_key": new.plaintext}
    finally:
        await admin_engine.dispose()
        await runtime_engine.dispose()
