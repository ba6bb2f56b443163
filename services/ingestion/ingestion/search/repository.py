"""SQL of the knowledge-base search legs (RLS: the session is bound to the tenant; `tenant_id = $n` also prunes
`kb_chunks` to the tenant's partition, whose own HNSW and GIN indexes serve the legs).

Each leg is one statement run on the session's own asyncpg connection, inside the session's tenant transaction:
asyncpg prepares it once per connection and reuses it (no planning over every partition per query), and skipping
SQLAlchemy's statement layer takes ~0.3 ms off a leg whose index scan takes ~1 ms.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

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


# One round trip: the settings are made transaction-local by a MATERIALIZED CTE the leg's subquery depends on
# (LATERAL), so they are in force before the HNSW scan's first fetch (pgvector reads `hnsw.ef_search` and
# `hnsw.iterative_scan` then, not when the plan starts). `iterative_scan` lets a document filter still fill `limit`.
# The HNSW index is over `embedding::halfvec(384)` (migration 0031: half the pages, so the graph stays in shared
# buffers), so the leg orders by that expression; the score and the final order use the stored full vector.
_VECTOR_LEG = (
    "with s as materialized (select set_config('hnsw.ef_search', $1::text, true) as ef,"
    " set_config('hnsw.iterative_scan', 'strict_order', true) as scan)"
    " select c.id, c.document_id, d.filename, c.section_path, c.page, c.content, 1 - c.distance"
    " from s cross join lateral (select c.id, c.document_id, c.section_path, c.page, c.content,"
    " c.embedding <=> $3::text::vector as distance from kb_chunks c"
    " where c.tenant_id = $2 and s.ef is not null and s.scan is not null"
    " and ($5::uuid[] is null or c.document_id = any($5::uuid[]))"
    " order by c.embedding::halfvec(384) <=> $3::text::halfvec(384) limit $4) c"
    " join kb_documents d on d.id = c.document_id order by c.distance, c.id"
)
_FULLTEXT_LEG = (
    "select c.id, c.document_id, d.filename, c.section_path, c.page, c.content, c.rank"
    " from (select c.id, c.document_id, c.section_path, c.page, c.content, ts_rank_cd(c.tsv, q.query) as rank"
    " from kb_chunks c, websearch_to_tsquery('english', $2) q(query)"
    " where c.tenant_id = $1 and c.tsv @@ q.query and ($4::uuid[] is null or c.document_id = any($4::uuid[]))"
    " order by rank desc, c.id limit $3) c"
    " join kb_documents d on d.id = c.document_id order by c.rank desc, c.id"
)


async def _fetch(session: AsyncSession, sql: str, *args: object) -> list[Hit]:
    """`sql`'s rows as hits, run on the connection (and in the transaction) the session holds."""
    connection = await (await session.connection()).get_raw_connection()
    driver: Any = connection.driver_connection  # asyncpg.Connection
    return [Hit(*row) for row in await driver.fetch(sql, *args)]


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
    return await _fetch(session, _VECTOR_LEG, str(ef_search), tenant_id, vector, limit, document_ids)


async def fulltext_leg(
    session: AsyncSession, tenant_id: uuid.UUID, query: str, *, limit: int, document_ids: list[uuid.UUID] | None
) -> list[Hit]:
    """The `limit` chunks matching `query` (websearch syntax, English), best `ts_rank_cd` first."""
    return await _fetch(session, _FULLTEXT_LEG, tenant_id, query, limit, document_ids)
