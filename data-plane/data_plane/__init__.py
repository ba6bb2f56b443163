"""The data plane: schema, roles, row-level security, event contracts."""

from pathlib import Path

__all__ = ["EVENTS_DIR", "MIGRATIONS_DIR"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
