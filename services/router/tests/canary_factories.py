"""A throwaway database for the version and canary tests, and constant artifacts to register.

`router_versions` is one platform-wide catalogue: a canary or a stable version activated in the shared database
would change what every other suite's router serves. So these tests run on a database of their own, created,
bootstrapped and migrated like the real one, and dropped at the end (as tests/test_openapi_fuzz.py does).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from aiaas.db import admin_session, create_engine, session_factory
from aiaas.scopes import ALL_SCOPES
from aiaas.tenancy import create_api_key, create_tenant
from aiaas_testing import InfraUrls
from router.model import constant_document

__all__ = ["Database", "throwaway_database", "constant_artifact", "make_tenant_key"]

ROOT = Path(__file__).resolve().parents[3]
_OWNER = "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas"
_SUPERUSER = "postgresql://postgres:postgres@127.0.0.1:55432/postgres"


@dataclass(frozen=True)
class Database:
    name: str
    env: dict[str, str]  # DATABASE_URL, ADMIN_DATABASE_URL, MIGRATION_DATABASE_URL of this database
    admin_key: str  # a named platform-admin key in it
    admin_key_name: str

    @property
    def runtime_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def admin_url(self) -> str:
        return self.env["ADMIN_DATABASE_URL"]

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _data_plane(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "data_plane", *args],
        env=env,
        cwd=ROOT,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"data_plane {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(os.environ.get("PG_SUPERUSER_URL", _SUPERUSER))
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


@contextmanager
def throwaway_database(infra_urls: InfraUrls, prefix: str) -> Iterator[Database]:
    """A bootstrapped, migrated database of its own with one admin key; dropped afterwards."""
    name = f"aiaas_{prefix}_{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": _with_database(infra_urls.database_url, name),
        "ADMIN_DATABASE_URL": _with_database(infra_urls.admin_database_url, name),
        "MIGRATION_DATABASE_URL": _with_database(os.environ.get("MIGRATION_DATABASE_URL", _OWNER), name),
    }
    full = {**os.environ, **env}
    try:
        _data_plane(full, "bootstrap")
        _data_plane(full, "migrate")
        key_name = f"canary-admin-{uuid.uuid4().hex[:6]}"
        key = _data_plane(full, "admin-keys", "create", key_name, "--created-by", "pytest").strip()
        yield Database(name=name, env=env, admin_key=key, admin_key_name=key_name)
    finally:
        asyncio.run(_drop(name))


def constant_artifact(version: str, cheap: float, strong: float, **report: Any) -> dict[str, Any]:
    """A sealed constant-kind artifact document (`router.model`'s format): P(success) fixed per tier."""
    return constant_document({"cheap": cheap, "strong": strong}, version, eval_report=report or None)


async def make_tenant_key(admin_url: str) -> tuple[uuid.UUID, str]:
    """A tenant and a key with every scope in the database at `admin_url`: (tenant id, key)."""
    engine = create_engine(admin_url, pool_size=1)
    try:
        async with admin_session(session_factory(engine)) as session:
            slug = f"canary-{uuid.uuid4().hex[:8]}"
            tenant = await create_tenant(session, name="Canary", slug=slug)
            _, new = await create_api_key(session, tenant_id=tenant.id, name="canary", scopes=list(ALL_SCOPES))
        return tenant.id, new.plaintext
    finally:
        await engine.dispose()
