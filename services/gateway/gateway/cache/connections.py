"""The semantic tier's own asyncpg pool: one prepared statement per search, no SQLAlchemy checkout or execute.

On the bench stack SQLAlchemy's checkout and execute cost ~0.6 ms of CPU per search (paced c=1 requests), as much as
Postgres's own part; a plain asyncpg connection leaves ~0.1 ms. The pool opens on the first statement (from the
cache engine's URL: the same role, RLS applies) and closes at shutdown; its connections send vectors in binary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cache.repository import use_binary_vectors

__all__ = ["CacheConnections"]


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A released connection needs no reset round trip: the cache's statements leave no session state (each binds
    its tenant for its own transaction)."""


class CacheConnections:
    """Connections for the cache's statements, as many as the engine's pool could open, each outside any
    transaction."""

    def __init__(self, engine: AsyncEngine, application_name: str = "gateway-cache") -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # As many as the engine could open: its pool_size plus max_overflow, which the gateway sets equal.
        size = getattr(engine.pool, "size", None)
        self._size = 2 * size() if callable(size) else 8
        self._application_name = application_name
        self._pool: asyncio.Future[asyncpg.Pool] | None = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            self._pool = asyncio.ensure_future(self._open())
            self._pool.add_done_callback(self._forget_failed)
        pool = await asyncio.shield(self._pool)
        async with pool.acquire() as conn:
            yield conn

    async def _open(self) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._size,
            reset=_keep_session,
            init=use_binary_vectors,
            server_settings={"application_name": self._application_name},
        )
        if pool is None:
            raise RuntimeError("the cache's connection pool did not open")
        return pool

    def _forget_failed(self, opening: asyncio.Future[asyncpg.Pool]) -> None:
        # Postgres down at the first statement: that lookup misses, the next one tries again.
        if opening.cancelled() or opening.exception() is not None:
            self._pool = None

    async def close(self) -> None:
        opening, self._pool = self._pool, None
        if opening is None:
            return
        if not opening.done():
            opening.cancel()
        try:
            pool = await opening
        except (asyncio.CancelledError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            return
        await pool.close()
