"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from data_plane import MIGRATIONS_DIR
from data_plane.config import DataPlaneSettings

__all__ = ["alembic_config", "upgrade", "downgrade"]


def alembic_config(settings: DataPlaneSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.migration_database_url.replace("%", "%%"))
    return config


def upgrade(settings: DataPlaneSettings, revision: str = "heads") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: DataPlaneSettings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
