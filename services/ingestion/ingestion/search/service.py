"""Knowledge-base search: a vector leg (HNSW, cosine), a full-text leg (`websearch_to_tsquery`, `ts_rank_cd`), and
hybrid = reciprocal-rank fusion of both: score(chunk) = sum over the legs that found it of 1 / (k + rank), k = 60,
each leg taking its top `candidates`. Ties keep the vector leg's order, then the chunk id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ingestion.embedding import ChunkEmbedder
from ingestion.parsing.parsers import clean
from ingestion.search import repository
from ingestion.search.repository import Hit
from ingestion.search.schemas import Citation, Mode, SearchResult

__all__ = ["SearchSettings", "search", "fuse"]


@dataclass(frozen=True)
class SearchSettings:
    candidates: int
    ef_search: int
    rrf_k: int


def _result(hit: Hit, score: float, vector_rank: int | None, fulltext_rank: int | None) -> SearchResult:
    return SearchResult(
        chunk_id=hit.chunk_id,
        content=hit.content,
        score=score,
        vector_rank=vector_rank,
        fulltext_rank=fulltext_rank,
        citation=Citation(document_id=hit.document_id, filename=hit.filename, section=hit.section_path, page=hit.page),
    )


def fuse(vector: list[Hit], fulltext: list[Hit], *, k: int, top_k: int) -> list[SearchResult]:
    """Reciprocal-rank fusion of two ranked lists (ranks from 1)."""
    hits: dict[uuid.UUID, Hit] = {}
    ranks: dict[uuid.UUID, list[int | None]] = {}
    for leg, found in enumerate((vector, fulltext)):
        for rank, hit in enumerate(found, 1):
            hits.setdefault(hit.chunk_id, hit)
            ranks.setdefault(hit.chunk_id, [None, None])[leg] = rank

    def score(chunk: uuid.UUID) -> float:
        return sum(1.0 / (k + rank) for rank in ranks[chunk] if rank is not None)

    def order(chunk: uuid.UUID) -> tuple[float, int, str]:
        vector_rank = ranks[chunk][0]
        return (-score(chunk), vector_rank if vector_rank is not None else 1 << 30, str(chunk))

    best = sorted(hits, key=order)[:top_k]
    return [_result(hits[chunk], score(chunk), ranks[chunk][0], ranks[chunk][1]) for chunk in best]


async def search(
    session: AsyncSession,
    embedder: ChunkEmbedder,
    tenant_id: uuid.UUID,
    *,
    query: str,
    mode: Mode,
    top_k: int,
    document_ids: list[uuid.UUID] | None,
    settings: SearchSettings,
) -> list[SearchResult]:
    # Text Postgres and the tokenizer cannot take (NUL, lone surrogates) goes; nothing left finds nothing.
    query = clean(query)
    if not query:
        return []
    limit = top_k if mode != "hybrid" else max(top_k, settings.candidates)
    vector_hits: list[Hit] = []
    fulltext_hits: list[Hit] = []
    if mode in ("vector", "hybrid"):
        (vector,) = await embedder.embed([query], kind="query")
        vector_hits = await repository.vector_leg(
            session, tenant_id, vector, limit=limit, ef_search=settings.ef_search, document_ids=document_ids
        )
    if mode in ("fulltext", "hybrid"):
        fulltext_hits = await repository.fulltext_leg(session, tenant_id, query, limit=limit, document_ids=document_ids)
    if mode == "vector":
        return [_result(hit, hit.score, rank, None) for rank, hit in enumerate(vector_hits, 1)]
    if mode == "fulltext":
        return [_result(hit, hit.score, None, rank) for rank, hit in enumerate(fulltext_hits, 1)]
    return fuse(vector_hits, fulltext_hits, k=settings.rrf_k, top_k=top_k)
