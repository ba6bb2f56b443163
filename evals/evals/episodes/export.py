"""Episodes out of the database as canonical JSON lines (evals.episodes.canonical says what canonical means).

A tenant's export runs in that tenant's transaction as app_runtime: RLS decides what exists, so another tenant's
run id is simply not found. Without a tenant the export runs as platform_admin across tenants (the corpus
recorder).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, tenant_session
from evals.episodes import repository
from evals.episodes.canonical import canonical_episode, dumps_line

__all__ = ["EpisodeNotFound", "export_episodes", "read_episodes", "write_jsonl"]


class EpisodeNotFound(LookupError):
    """No such run for the reader (unknown, or another tenant's)."""

    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(f"episode not found: run {run_id}")
        self.run_id = run_id


async def read_episodes(
    session: AsyncSession, run_ids: Sequence[uuid.UUID] | None, *, tenant_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """Canonical episodes of `run_ids` (or of every exportable run the session sees), in that order."""
    wanted = list(run_ids) if run_ids else await repository.list_runs(session, tenant_id)
    episodes = []
    for run_id in wanted:
        run = await repository.read_run(session, run_id)
        if run is None:
            raise EpisodeNotFound(run_id)
        steps = await repository.read_steps(session, run_id)
        calls = await repository.read_calls(session, run_id)
        episodes.append(canonical_episode(run, steps, calls))
    return episodes


async def export_episodes(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID | None,
    run_ids: Sequence[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """One transaction: the tenant's (RLS) when `tenant_id` is given, else platform_admin's (`sessions` must then
    come from the admin engine)."""
    if tenant_id is not None:
        async with tenant_session(sessions, tenant_id) as session:
            return await read_episodes(session, run_ids, tenant_id=tenant_id)
    async with admin_session(sessions) as session:
        return await read_episodes(session, run_ids)


def write_jsonl(episodes: Sequence[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(dumps_line(episode) + b"\n" for episode in episodes))
