"""SQL of `kb_documents` and the writes of `kb_chunks` (RLS: every session is bound to the tenant)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "DocumentRow",
    "NewChunk",
    "ensure_partition",
    "lock_filename",
    "by_filename",
    "get",
    "get_for_update",
    "lock",
    "listing",
    "insert_document",
    "new_version",
    "set_status",
    "vectors_by_sha",
    "insert_chunks",
    "delete_other_versions",
    "mark_ready",
    "delete_document",
    "DeletedDocument",
]

_COLUMNS = (
    "id, tenant_id, filename, media_type, version, sha256, size_bytes, status, error, chunk_count,"
    " chunks_embedded, chunks_reused, embedding_tokens, api_key_id, created_at, updated_at"
)
# Statements over the constant column list (no input reaches the SQL text).
_BY_FILENAME = text(f"select {_COLUMNS} from kb_documents where filename = :f")  # noqa: S608  # nosec B608
_BY_ID = text(f"select {_COLUMNS} from kb_documents where id = :id")  # noqa: S608  # nosec B608
_FOR_UPDATE = text(f"select {_COLUMNS}, content from kb_documents where id = :id for update")  # noqa: S608  # nosec B608
_LOCK = text(f"select {_COLUMNS} from kb_documents where id = :id for update")  # noqa: S608  # nosec B608
_LISTING = text(
    f"select {_COLUMNS} from kb_documents d where cast(:after as uuid) is null"  # noqa: S608  # nosec B608
    " or (d.created_at, d.id) > (select a.created_at, a.id from kb_documents a where a.id = :after)"
    " order by d.created_at, d.id limit :limit"
)


@dataclass(frozen=True)
class DocumentRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    filename: str
    media_type: str
    version: int
    sha256: str
    size_bytes: int
    status: str
    error: str | None
    chunk_count: int
    chunks_embedded: int
    chunks_reused: int
    embedding_tokens: int
    api_key_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeletedDocument:
    filename: str
    version: int
    chunks_deleted: int


@dataclass(frozen=True)
class NewChunk:
    id: uuid.UUID
    ordinal: int
    content: str
    section_path: str
    page: int | None
    content_sha256: str
    embedding: str  # pgvector text form


def _row(mapping: Any) -> DocumentRow:
    return DocumentRow(**{key: mapping[key] for key in DocumentRow.__dataclass_fields__})


async def ensure_partition(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """The tenant's `kb_chunks` partition (and its HNSW and GIN indexes), made if missing (SECURITY DEFINER).

    Making one locks tenants, kb_documents and kb_chunks in that order (migration 0033) until the transaction ends:
    call it first in a transaction of its own, never after this transaction has touched those tables."""
    await session.execute(text("select kb_ensure_partition(:tid)"), {"tid": tenant_id})


async def lock_filename(session: AsyncSession, tenant_id: uuid.UUID, filename: str) -> None:
    """Serialise two uploads of one file name until the transaction ends (the second sees the first's row)."""
    await session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:key, 26))"), {"key": f"{tenant_id}:{filename}"}
    )


async def by_filename(session: AsyncSession, filename: str) -> DocumentRow | None:
    row = (await session.execute(_BY_FILENAME, {"f": filename})).mappings().first()
    return None if row is None else _row(row)


async def get(session: AsyncSession, document_id: uuid.UUID) -> DocumentRow | None:
    row = (await session.execute(_BY_ID, {"id": document_id})).mappings().first()
    return None if row is None else _row(row)


async def get_for_update(session: AsyncSession, document_id: uuid.UUID) -> tuple[DocumentRow, bytes] | None:
    """The row and its original bytes, locked until the transaction ends."""
    row = (await session.execute(_FOR_UPDATE, {"id": document_id})).mappings().first()
    return None if row is None else (_row(row), bytes(row["content"]))


async def lock(session: AsyncSession, document_id: uuid.UUID) -> DocumentRow | None:
    """The row without its original bytes, locked until the transaction ends."""
    row = (await session.execute(_LOCK, {"id": document_id})).mappings().first()
    return None if row is None else _row(row)


async def listing(session: AsyncSession, *, limit: int, after: uuid.UUID | None) -> list[DocumentRow]:
    """The tenant's documents, oldest first, `limit` after the document `after` (keyset pagination)."""
    rows = (
        (
            await session.execute(
                _LISTING,
                {"after": after, "limit": limit},
            )
        )
        .mappings()
        .all()
    )
    return [_row(row) for row in rows]


async def insert_document(
    session: AsyncSession,
    *,
    document_id: uuid.UUID,
    tenant_id: uuid.UUID,
    filename: str,
    media_type: str,
    sha256: str,
    content: bytes,
    api_key_id: uuid.UUID | None,
    now: datetime,
) -> None:
    await session.execute(
        text(
            "insert into kb_documents (id, tenant_id, filename, media_type, version, sha256, size_bytes, content,"
            " status, api_key_id, created_at, updated_at)"
            " values (:id, :tid, :filename, :media_type, 1, :sha, :size, :content, 'queued', :key, :now, :now)"
        ),
        {
            "id": document_id,
            "tid": tenant_id,
            "filename": filename,
            "media_type": media_type,
            "sha": sha256,
            "size": len(content),
            "content": content,
            "key": api_key_id,
            "now": now,
        },
    )


async def new_version(
    session: AsyncSession,
    document_id: uuid.UUID,
    *,
    media_type: str,
    sha256: str,
    content: bytes,
    api_key_id: uuid.UUID | None,
    now: datetime,
) -> int:
    """Store changed bytes as the next version (queued); the ready chunks stay until it replaces them."""
    version: int = (
        await session.execute(
            text(
                "update kb_documents set version = version + 1, media_type = :media_type, sha256 = :sha,"
                " size_bytes = :size, content = :content, status = 'queued', error = null, api_key_id = :key,"
                " updated_at = :now"
                " where id = :id returning version"
            ),
            {
                "id": document_id,
                "media_type": media_type,
                "sha": sha256,
                "size": len(content),
                "content": content,
                "key": api_key_id,
                "now": now,
            },
        )
    ).scalar_one()
    return version


async def set_status(
    session: AsyncSession, document_id: uuid.UUID, version: int, status: str, *, error: str | None, now: datetime
) -> None:
    await session.execute(
        text(
            "update kb_documents set status = :status, error = :error, updated_at = :now"
            " where id = :id and version = :version"
        ),
        {"id": document_id, "version": version, "status": status, "error": error, "now": now},
    )


async def vectors_by_sha(session: AsyncSession, shas: Sequence[str], model_id: str) -> dict[str, str]:
    """The tenant's stored vectors for these content hashes (one each), embedded by `model_id`."""
    if not shas:
        return {}
    rows = (
        await session.execute(
            text(
                "select distinct on (content_sha256) content_sha256, embedding::text from kb_chunks"
                " where content_sha256 = any(:shas) and model_id = :model"
            ),
            {"shas": list(shas), "model": model_id},
        )
    ).all()
    return {sha: vector for sha, vector in rows}


async def insert_chunks(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    document_id: uuid.UUID,
    version: int,
    model_id: str,
    dimension: int,
    chunks: Sequence[NewChunk],
) -> None:
    if not chunks:
        return
    await session.execute(
        text(
            "insert into kb_chunks (tenant_id, id, document_id, version, ordinal, content, section_path, page,"
            " content_sha256, model_id, dimension, embedding)"
            " values (:tid, :id, :doc, :version, :ordinal, :content, :section, :page, :sha, :model, :dim,"
            " cast(:embedding as vector))"
        ),
        [
            {
                "tid": tenant_id,
                "id": chunk.id,
                "doc": document_id,
                "version": version,
                "ordinal": chunk.ordinal,
                "content": chunk.content,
                "section": chunk.section_path,
                "page": chunk.page,
                "sha": chunk.content_sha256,
                "model": model_id,
                "dim": dimension,
                "embedding": chunk.embedding,
            }
            for chunk in chunks
        ],
    )


async def delete_other_versions(session: AsyncSession, document_id: uuid.UUID, version: int) -> int:
    result = await session.execute(
        text("delete from kb_chunks where document_id = :id and version <> :version"),
        {"id": document_id, "version": version},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_ready(
    session: AsyncSession,
    document_id: uuid.UUID,
    version: int,
    *,
    chunks: int,
    embedded: int,
    reused: int,
    tokens: int,
    now: datetime,
) -> None:
    await session.execute(
        text(
            "update kb_documents set status = 'ready', error = null, chunk_count = :chunks,"
            " chunks_embedded = :embedded, chunks_reused = :reused, embedding_tokens = :tokens, updated_at = :now"
            " where id = :id and version = :version"
        ),
        {
            "id": document_id,
            "version": version,
            "chunks": chunks,
            "embedded": embedded,
            "reused": reused,
            "tokens": tokens,
            "now": now,
        },
    )


async def delete_document(session: AsyncSession, document_id: uuid.UUID) -> DeletedDocument | None:
    """The document's chunks, then the document with its original bytes (one transaction: the caller's); None
    when there is no such document. The row is locked first, so an ingest finishing meanwhile is counted."""
    row = (
        await session.execute(
            text("select filename, version from kb_documents where id = :id for update"), {"id": document_id}
        )
    ).first()
    if row is None:
        return None
    chunks = await session.execute(text("delete from kb_chunks where document_id = :id"), {"id": document_id})
    await session.execute(text("delete from kb_documents where id = :id"), {"id": document_id})
    return DeletedDocument(row.filename, row.version, int(chunks.rowcount or 0))  # type: ignore[attr-defined]
