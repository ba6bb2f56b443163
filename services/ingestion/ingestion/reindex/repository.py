"""SQL of the reindex job: chunks of another model, their new vectors; and, across tenants, who has such chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["StaleChunk", "tenants_to_reindex", "stale_chunks", "set_vectors"]


@dataclass(frozen=True)
class StaleChunk:
    id: uuid.UUID
    section_path: str
    content: str
    content_sha256: str
    model_id: str


async def tenants_to_reindex(admin: AsyncSession, model_id: str) -> list[uuid.UUID]:
    """Every tenant with a chunk of another model (a platform_admin session: it reads across tenants)."""
    rows = await admin.execute(
        text("select distinct tenant_id from kb_chunks where model_id <> :model order by tenant_id"),
        {"model": model_id},
    )
    return [tenant for (tenant,) in rows]


async def stale_chunks(
    session: AsyncSession, tenant_id: uuid.UUID, model_id: str, *, after: uuid.UUID | None, limit: int
) -> list[StaleChunk]:
    """Up to `limit` of the tenant's chunks of another model than `model_id`, by id after `after`."""
    rows = await session.execute(
        text(
            "select id, section_path, content, content_sha256, model_id from kb_chunks"
            " where tenant_id = :tid and model_id <> :model and (cast(:after as uuid) is null or id > :after)"
            " order by id limit :limit"
        ),
        {"tid": tenant_id, "model": model_id, "after": after, "limit": limit},
    )
    return [StaleChunk(*row) for row in rows]


async def set_vectors(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    chunks: Sequence[StaleChunk],
    vectors: Sequence[str],
    *,
    model_id: str,
    dimension: int,
) -> int:
    """Store each chunk's new vector and model id, unless it changed meanwhile (deleted, or reindexed by another
    run); returns how many were updated."""
    if not chunks:
        return 0
    result = await session.execute(
        text(
            "update kb_chunks c set embedding = cast(u.embedding as vector), model_id = :model, dimension = :dim"
            " from unnest(cast(:ids as uuid[]), cast(:old as text[]), cast(:vectors as text[]))"
            " as u(id, old, embedding)"
            " where c.tenant_id = :tid and c.id = u.id and c.model_id = u.old"
        ),
        {
            "tid": tenant_id,
            "ids": [chunk.id for chunk in chunks],
            "old": [chunk.model_id for chunk in chunks],
            "vectors": list(vectors),
            "model": model_id,
            "dim": dimension,
        },
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
