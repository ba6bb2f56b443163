"""The eval platform's throwaway database, copied from a migrated template.

Bootstrapping and migrating a fresh database costs 9 s on this machine (more under load), a large share of the
gate's 120 s budget. So the first eval migrates a template database, `aiaas_evals_tpl_<fingerprint>`, named after
the sha256 of the migrations and the bootstrap code; every eval then copies it (`CREATE DATABASE ... TEMPLATE`,
well under a second) and grants the runtime roles CONNECT, which a copy does not inherit. A change to a migration
changes the fingerprint: the next eval builds a new template and drops the old ones. Builders serialise on an
advisory lock, so two evals at once build one template.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from aiaas_testing.infra import infra_urls_from_env, owner_database_url
from evals.loader import REPO_ROOT

__all__ = ["DatabaseError", "create_database", "drop_database", "role_dsns", "template_name"]

_SUPERUSER = "postgresql://postgres:postgres@127.0.0.1:55432/postgres"
_PREFIX = "aiaas_evals_"
_TEMPLATE_PREFIX = f"{_PREFIX}tpl_"
_LOCK_KEY = 0x6576616C73  # "evals": the advisory lock template builders share
_DATA_PLANE = REPO_ROOT / "data-plane" / "data_plane"


class DatabaseError(RuntimeError):
    pass


def superuser_dsn() -> str:
    return os.environ.get("PG_SUPERUSER_URL", _SUPERUSER)


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def role_dsns(database: str) -> dict[str, str]:
    """DATABASE_URL (app_runtime), ADMIN_DATABASE_URL (platform_admin), MIGRATION_DATABASE_URL (owner) on it."""
    shared = infra_urls_from_env()
    return {
        "DATABASE_URL": _with_database(shared.database_url, database),
        "ADMIN_DATABASE_URL": _with_database(shared.admin_database_url, database),
        "MIGRATION_DATABASE_URL": _with_database(owner_database_url(), database),
    }


def template_name() -> str:
    digest = hashlib.sha256()
    sources = sorted((_DATA_PLANE / "migrations").rglob("*.py")) + [
        _DATA_PLANE / "bootstrap.py",
        _DATA_PLANE / "repository.py",
    ]
    for path in sources:
        digest.update(str(path.relative_to(_DATA_PLANE)).encode())
        digest.update(path.read_bytes())
    return _TEMPLATE_PREFIX + digest.hexdigest()[:12]


def _data_plane(database: str, log_dir: Path) -> None:
    env = {**os.environ, **role_dsns(database)}
    for step in ("bootstrap", "migrate"):
        log = log_dir / f"data_plane-{step}.log"
        with log.open("wb") as out:
            code = subprocess.run(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "data_plane", step],
                env=env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            ).returncode
        if code != 0:
            raise DatabaseError(f"`python -m data_plane {step}` failed (exit {code}); see {log}")


async def _ensure_template(conn: asyncpg.Connection, template: str, log_dir: Path) -> None:
    if await conn.fetchval("select datistemplate from pg_database where datname = $1", template):
        return
    await conn.execute(f'drop database if exists "{template}" with (force)')  # a build that died half-way
    _data_plane(template, log_dir)
    await conn.execute(f'alter database "{template}" with is_template true')
    stale = await conn.fetch(
        "select datname from pg_database where datname like $1 and datname <> $2", _TEMPLATE_PREFIX + "%", template
    )
    for row in stale:
        await conn.execute(f'alter database "{row["datname"]}" with is_template false')
        await conn.execute(f'drop database if exists "{row["datname"]}" with (force)')


async def create_database(log_dir: Path) -> str:
    """A fresh, migrated database of its own (its name); DatabaseError when it cannot be made."""
    template = template_name()
    database = f"{_PREFIX}{uuid.uuid4().hex[:8]}"
    owner = make_url(owner_database_url()).username
    runtime = make_url(infra_urls_from_env().database_url).username
    admin = make_url(infra_urls_from_env().admin_database_url).username
    try:
        conn = await asyncpg.connect(superuser_dsn())
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"Postgres unreachable at {make_url(superuser_dsn()).host}: {exc!r}") from None
    try:
        await conn.execute("select pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await _ensure_template(conn, template, log_dir)
            await conn.execute(f'create database "{database}" template "{template}" owner "{owner}"')
        finally:
            await conn.execute("select pg_advisory_unlock($1)", _LOCK_KEY)
        await conn.execute(f'grant connect on database "{database}" to "{runtime}", "{admin}"')
    finally:
        await conn.close()
    return database


async def drop_database(database: str) -> None:
    conn = await asyncpg.connect(superuser_dsn())
    try:
        await conn.execute(f'drop database if exists "{database}" with (force)')
    finally:
        await conn.close()
