"""Run the migrations programmatically (no alembic.ini needed): Alembic to head, then the checkpoint tables.

`migrate` (what `python -m data_plane migrate` runs) is `upgrade` followed by
`data_plane.checkpoints.setup_checkpoints`: LangGraph's `AsyncPostgresSaver.setup()` creates and versions its own
tables (in schema `orch_ckpt`, bookkeeping in `orch_ckpt.checkpoint_migrations`) and must run on an autocommit
psycopg connection (its CREATE INDEX CONCURRENTLY fails in a transaction), so it cannot be an Alembic revision
(Alembic runs each revision in a transaction on asyncpg). The tenant hardening (tenant_id, FORCE RLS, the policy,
app_runtime's grants) has to follow it, so it runs in the same step, in one transaction, written to be
re-runnable: on a fresh database and on every later migrate it leaves the same catalog, and a newer saver that adds
a table it does not know makes migrate fail rather than leave that table without RLS. `upgrade` and `downgrade`
alone stay Alembic-only (the migration tests move revisions back and forth with them).
"""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config

from data_plane import MIGRATIONS_DIR
from data_plane.checkpoints import setup_checkpoints
from data_plane.config import DataPlaneSettings

__all__ = ["alembic_config", "upgrade", "downgrade", "migrate"]


def alembic_config(settings: DataPlaneSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.migration_database_url.replace("%", "%%"))
    return config


def upgrade(settings: DataPlaneSettings, revision: str = "heads") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: DataPlaneSettings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


def migrate(settings: DataPlaneSettings) -> None:
    """Alembic to head, then the checkpoint schema (the saver's setup() and its tenant RLS); idempotent."""
    upgrade(settings)
    asyncio.run(setup_checkpoints(settings))
