"""Create the database and its roles (idempotent); the only step that needs a superuser.

Roles: the migration owner (owns every table), `app_runtime` (what services
connect as: LOGIN, NOBYPASSRLS, not owner), `platform_admin` (named
cross-tenant role), and `key_resolver` (NOLOGIN; owns the API-key lookup
function). Names and passwords come from the three configured URLs.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from sqlalchemy.engine import make_url

from data_plane.config import DataPlaneSettings

__all__ = ["bootstrap"]

log = logging.getLogger(__name__)


def _plain(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _ensure_role(conn: asyncpg.Connection, name: str, password: str | None, *, login: bool) -> None:
    exists = await conn.fetchval("select 1 from pg_roles where rolname = $1", name)
    verb = "alter" if exists else "create"
    options = "login" if login else "nologin"
    options += " nosuperuser nocreatedb nocreaterole nobypassrls"
    ident = _quote_ident(name)
    if password:
        # Passwords cannot be bound parameters in DDL; quote them as literals.
        options += " password " + _quote_literal(password)
    await conn.execute(f"{verb} role {ident} with {options}")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _connect_when_up(url: str, wait_s: float) -> asyncpg.Connection:
    """Connect, retrying while the server is still starting (a compose migrate job races Postgres' first start)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await asyncpg.connect(url, timeout=5)
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError) as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("postgres not accepting connections yet, retrying", extra={"error": repr(exc)[:200]})
            await asyncio.sleep(1.0)


async def bootstrap(settings: DataPlaneSettings) -> None:
    owner, owner_pw = settings.role_password(settings.migration_database_url)
    runtime, runtime_pw = settings.role_password(settings.database_url)
    admin, admin_pw = settings.role_password(settings.admin_database_url)
    database = settings.database_name

    conn = await _connect_when_up(_plain(settings.pg_superuser_url), settings.connect_wait_s)
    try:
        await _ensure_role(conn, owner, owner_pw, login=True)
        await _ensure_role(conn, runtime, runtime_pw, login=True)
        await _ensure_role(conn, admin, admin_pw, login=True)
        await _ensure_role(conn, "key_resolver", None, login=False)
        await conn.execute(f"grant key_resolver to {_quote_ident(owner)}")
        if not await conn.fetchval("select 1 from pg_database where datname = $1", database):
            await conn.execute(f"create database {_quote_ident(database)} owner {_quote_ident(owner)}")
    finally:
        await conn.close()

    conn = await asyncpg.connect(_plain(settings.pg_superuser_url, database))
    try:
        await conn.execute(f"alter schema public owner to {_quote_ident(owner)}")
        await conn.execute("revoke create on schema public from public")
        for role in (runtime, admin, "key_resolver"):
            await conn.execute(f"grant usage on schema public to {_quote_ident(role)}")
        # Owning a function needs CREATE on its schema; key_resolver cannot log in.
        await conn.execute("grant create on schema public to key_resolver")
        await conn.execute(
            f"grant connect on database {_quote_ident(database)} to {_quote_ident(runtime)}, {_quote_ident(admin)}"
        )
        available = await conn.fetchval("select 1 from pg_available_extensions where name = 'vector'")
        if available:
            await conn.execute("create extension if not exists vector")
        else:
            log.warning("pgvector is not available on this Postgres; the knowledge base will need it")
    finally:
        await conn.close()
