"""SQL of the knowledge-base search legs (RLS: the session is bound to the tenant; `tenant_id = :tid` also prunes
`kb_chunks` to the tenant's partition, whose own HNSW and GIN indexes serve the legs)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Hit", "vector_leg", "fulltext_leg"]


@dataclass(frozen=True)
class Hit:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    section_path: str
    page: int | None
    content: str
    score: float


def _hits(rows: Sequence[object]) -> list[Hit]:
    return [Hit(*row) for row in rows]  # type: ignore[misc]


async def vector_leg(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    vector: str,
    *,
    limit: int,
    ef_search: int,
    document_ids: list[uuid.UUID] | None,
) -> list[Hit]:
    """The `limit` chunks nearest to `vector` (cosine), nearest first; score = cosine similarity."""
    await session.execute(
        text("select set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', 'strict_order', true)"),
        {"ef": str(ef_search)},
    )
    rows = (
        await session.execute(
            text(
                "select c.id, c.document_id, d.filename, c.section_path, c.page, c.content, 1 - c.distance"
                " from (select c.id, c.document_id, c.section_path, c.page, c.content,"
                " c.embedding <=> cast(:q as vector) as distance from kb_chunks c"
                " where c.tenant_id = :tid"
                " and (cast(:docs as uuid[]) is null or c.document_id = any(cast(:docs as uuid[])))"
                " order by c.embedding <=> cast(:q as vector) limit :limit) c"
                " join kb_documents d on d.id = c.document_id order by c.distance, c.id"
            ),
            {"tid": tenant_id, "q": vector, "limit": limit, "docs": document_ids},
        )
    ).all()
    return _hits(rows)


async def fulltext_leg(
    session: AsyncSession, tenant_id: uuid.UUID, query: str, *, limit: int, document_ids: list[uuid.UUID] | None
) -> list[Hit]:
    """The `limit` chunks matching `query` (websearch syntax, English), best `ts_rank_cd` first."""
    rows = (
        await session.execute(
            text(
                "select c.id, c.document_id, d.filename, c.section_path, c.page, c.content, c.rank"
                " from (select c.id, c.document_id, c.section_path, c.page, c.content,"
                " ts_rank_cd(c.tsv, q.query) as rank"
                " from kb_chunks c, websearch_to_tsquery('english', :query) q(query)"
                " where c.tenant_id = :tid and c.tsv @@ q.query"
                " and (cast(:docs as uuid[]) is null or c.document_id = any(cast(:docs as uuid[])))"
                " order by rank desc, c.id limit :limit) c"
                " join kb_documents d on d.id = c.document_id order by c.rank desc, c.id"
            ),
            {"tid": tenant_id, "query": query, "limit": limit, "docs": document_ids},
        )
    ).all()
    return _hits(rows)
