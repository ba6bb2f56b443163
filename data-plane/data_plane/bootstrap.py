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

from data_plane import repository
from data_plane.config import DataPlaneSettings

__all__ = ["bootstrap"]

log = logging.getLogger(__name__)


def _plain(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


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
    """Create (or bring up to date) the three login roles, key_resolver, the database and its grants."""
    owner, owner_pw = settings.role_password(settings.migration_database_url)
    runtime, runtime_pw = settings.role_password(settings.database_url)
    admin, admin_pw = settings.role_password(settings.admin_database_url)
    database = settings.database_name

    conn = await _connect_when_up(_plain(settings.pg_superuser_url), settings.connect_wait_s)
    try:
        await repository.ensure_role(conn, owner, owner_pw, login=True)
        await repository.ensure_role(conn, runtime, runtime_pw, login=True)
        await repository.ensure_role(conn, admin, admin_pw, login=True)
        await repository.ensure_role(conn, "key_resolver", None, login=False)
        await repository.grant_role(conn, "key_resolver", owner)
        await repository.ensure_database(conn, database, owner)
    finally:
        await conn.close()

    conn = await asyncpg.connect(_plain(settings.pg_superuser_url, database))
    try:
        await repository.lock_down_public_schema(conn, owner, (runtime, admin, "key_resolver"))
        # Owning a function needs CREATE on its schema; key_resolver cannot log in.
        await repository.grant_create_on_public(conn, "key_resolver")
        await repository.grant_connect(conn, database, (runtime, admin))
        if not await repository.ensure_vector_extension(conn):
            log.warning("pgvector is not available on this Postgres; the knowledge base will need it")
        await repository.mark_fulltext_match_leakproof(conn)
    finally:
        await conn.close()
