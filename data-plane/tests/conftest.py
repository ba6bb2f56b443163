"""Fixtures shared by the data plane's migration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from data_plane.bootstrap import bootstrap
from data_plane.config import DataPlaneSettings


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def scratch() -> Iterator[tuple[DataPlaneSettings, str]]:
    """Settings whose migration URL names a new, bootstrapped database, and the superuser DSN of that database.

    Migration tests go back and forth on it, so the shared database is never migrated backwards; it is dropped after.
    """
    base = DataPlaneSettings()
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    url = make_url(base.migration_database_url).set(database=name).render_as_string(hide_password=False)
    settings = base.model_copy(update={"migration_database_url": url})
    superuser = make_url(_plain(base.pg_superuser_url))
    asyncio.run(bootstrap(settings))
    try:
        yield settings, superuser.set(database=name).render_as_string(hide_password=False)
    finally:

        async def drop() -> None:
            conn = await asyncpg.connect(superuser.render_as_string(hide_password=False))
            try:
                await conn.execute(f'drop database if exists "{name}" with (force)')
            finally:
                await conn.close()

        asyncio.run(drop())
