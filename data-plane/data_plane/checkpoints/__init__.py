"""The orchestrator's LangGraph checkpoint tables: the saver's own `setup()`, then tenant RLS (issue 15, §1).

Run by `python -m data_plane migrate` after Alembic, as the owner (MIGRATION_DATABASE_URL), on one autocommit
psycopg connection whose search_path is `orch_ckpt`. See `data_plane.migrate` for why this is not an Alembic
revision.
"""

from __future__ import annotations

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from aiaas.checkpoints import CHECKPOINT_SCHEMA, connection_kwargs, libpq_dsn
from data_plane.checkpoints import repository
from data_plane.config import DataPlaneSettings

__all__ = ["CHECKPOINT_SCHEMA", "setup_checkpoints"]


async def setup_checkpoints(settings: DataPlaneSettings) -> None:
    """Create `orch_ckpt`, run the saver's migrations, put its three tables under RLS; re-running changes nothing."""
    runtime_role, _ = settings.role_password(settings.database_url)
    conn: AsyncConnection[DictRow] = await AsyncConnection.connect(
        libpq_dsn(settings.migration_database_url), **connection_kwargs()
    )
    async with conn:
        await repository.lock_migration(conn)
        try:
            await repository.create_schema(conn, CHECKPOINT_SCHEMA)
            # Autocommit, statement by statement: its CREATE INDEX CONCURRENTLY fails inside a transaction.
            await AsyncPostgresSaver(conn).setup()
            async with conn.transaction():
                await repository.harden(conn, CHECKPOINT_SCHEMA, runtime_role)
            left = await repository.unhardened_tables(conn, CHECKPOINT_SCHEMA)
            if left:
                raise RuntimeError(
                    f"{CHECKPOINT_SCHEMA} has tables without tenant RLS ({', '.join(left)}): a newer checkpoint saver "
                    "added them; extend data_plane.checkpoints.repository.HARDENED_TABLES"
                )
        finally:
            await repository.unlock_migration(conn)
