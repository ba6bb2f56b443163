"""SQL of the control plane's agent registry as the orchestrator reads it (a catalogue: app_runtime may select)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["newest_manifest"]


async def newest_manifest(session: AsyncSession, name: str) -> dict[str, Any] | None:
    """The manifest of the newest version of agent `name` that has one (None: no such version)."""
    row = (
        await session.execute(
            text(
                "select manifest from agent_registry where name = :name and manifest is not null"
                " order by version desc limit 1"
            ),
            {"name": name},
        )
    ).first()
    return None if row is None else dict(row.manifest)
