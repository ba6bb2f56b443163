"""Request and response bodies of `POST /v1/ingestion/search`."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["SearchIn", "SearchOut", "SearchResult", "Citation", "Mode"]

Mode = Literal["vector", "fulltext", "hybrid"]


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    # hybrid = reciprocal-rank fusion (k=60) of the full-text and vector legs.
    mode: Mode = "hybrid"
    top_k: int = Field(5, ge=1, le=50)
    # Only these documents (none: all of the tenant's).
    document_ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=100)


class Citation(BaseModel):
    document_id: uuid.UUID
    filename: str
    # Headings above the chunk, joined by " > " ("" for none).
    section: str
    # PDF page, from 1 (null for other types).
    page: int | None


class SearchResult(BaseModel):
    chunk_id: uuid.UUID
    content: str
    # vector: cosine similarity; fulltext: ts_rank_cd; hybrid: the fused reciprocal-rank score.
    score: float
    # 1-based rank in each leg that found the chunk (hybrid shows both).
    vector_rank: int | None = None
    fulltext_rank: int | None = None
    citation: Citation


class SearchOut(BaseModel):
    object: Literal["search_result"] = "search_result"
    mode: Mode
    results: list[SearchResult]
