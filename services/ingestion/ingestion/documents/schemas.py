"""Request and response bodies of `/v1/ingestion/documents`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

__all__ = ["DocumentAccepted", "DocumentOut", "DocumentList", "Status"]

Status = Literal["queued", "processing", "ready", "failed"]


class DocumentAccepted(BaseModel):
    document_id: uuid.UUID
    version: int
    status: Status
    # True when the bytes equal the current version's: nothing was stored or embedded.
    unchanged: bool


class DocumentOut(BaseModel):
    id: uuid.UUID
    filename: str
    media_type: str
    version: int
    sha256: str
    size_bytes: int
    status: Status
    error: str | None
    chunk_count: int
    # Of the last ingest: chunks embedded now, and chunks whose stored vector was reused (same content hash).
    chunks_embedded: int
    chunks_reused: int
    # Embedding tokens the last ingest spent (metered as usage of `embedding:all-MiniLM-L6-v2`; 0 when all reused).
    embedding_tokens: int
    created_at: datetime
    updated_at: datetime


class DocumentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DocumentOut]
    has_more: bool
