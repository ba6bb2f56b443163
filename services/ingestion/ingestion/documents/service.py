"""Accept an upload, ingest a document version, list, read and delete documents.

`Pipeline.accept` checks an upload (size, type sniffed from the bytes, that it parses) and records it: a new
file name is version 1; the same bytes as a ready version change nothing (no row, no embedding); changed bytes,
or the same bytes of a version that never became ready, are the next version, queued.
`Pipeline.ingest(tenant, document, version)` is the pipeline's one step per version, the step the JetStream
consumer of `ingest.document.requested.<tenant>` runs for a message (until that stream exists the API calls it
right after `accept`, `accept_and_ingest`): parse, chunk, reuse the stored vector of every chunk
whose content hash the tenant already has, embed the rest, then in ONE transaction insert the version's chunks,
delete the previous version's and mark the document ready, so a search sees either version whole, never a mix.
A message for a version that was superseded or deleted meanwhile changes nothing.

Files are parsed in worker processes under a time limit (parsing/worker.py). Embedding tokens are metered: the
tokens of the texts an ingest actually embedded (0 for reused vectors) go on the document row and, when there are
any, into a `usage.recorded` outbox event in the same transaction as the chunks. A delete writes
`kb.document.deleted` to the outbox in its own transaction.

Every transaction here takes kb_documents before kb_chunks (or kb_chunks alone), the order `kb_ensure_partition`
locks in since migration 0033; the ingest's transactions are retried whole if Postgres still aborts one (40P01,
40001: `aiaas.db.retry_tenant_transaction`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import retry_tenant_transaction, tenant_session
from aiaas.errors import NotFound, PayloadTooLarge, PlatformError
from aiaas.events import write_outbox
from aiaas.events.publisher import NATS_UNAVAILABLE
from ingestion.chunking import Chunk, Chunker
from ingestion.documents import repository
from ingestion.documents.repository import DocumentRow, NewChunk
from ingestion.embedding import ChunkEmbedder
from ingestion.events import document_deleted, embedding_usage
from ingestion.parsing import ParsedDocument, ParseError, sniff
from ingestion.parsing.parsers import clean
from ingestion.parsing.worker import ParseWorkers

__all__ = ["Accepted", "IngestResult", "Pipeline", "RequestIngest", "as_http_error", "safe_filename"]

# Asks the consumer to ingest (tenant, document, version): publishes `ingest.document.requested.<tenant>`.
RequestIngest = Callable[[uuid.UUID, uuid.UUID, int], Awaitable[None]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    document_id: uuid.UUID
    version: int
    status: str
    unchanged: bool


@dataclass(frozen=True)
class IngestResult:
    chunks: int
    embedded: int
    reused: int
    # Embedding tokens spent: the model's tokens of each text embedded now (reused vectors cost none).
    tokens: int = 0


@dataclass(frozen=True)
class _Vectors:
    by_sha: dict[str, str]
    embedded_chunks: int
    tokens: int


@dataclass(frozen=True)
class _Embedded:
    """A version's chunks with their vectors, ready to store, and when their embedding ran (the usage event's)."""

    tenant_id: uuid.UUID
    document_id: uuid.UUID
    version: int
    chunks: list[Chunk]
    vectors: _Vectors
    started_at: datetime
    completed_at: datetime


def as_http_error(exc: ParseError) -> PlatformError:
    """The API's answer to a file that cannot be ingested: 415 unsupported type, 422 corrupt or undecodable."""
    return PlatformError(exc.message, code=exc.code, status=exc.status, type="invalid_request_error", param="file")


def safe_filename(raw: str | None) -> str:
    """The upload's base name, printable and at most 255 characters ("upload" when nothing is left)."""
    name = PureWindowsPath(PurePosixPath(raw or "").name).name
    name = clean(name).replace("\n", " ")[:255].strip()
    return name or "upload"


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        embedder: ChunkEmbedder,
        chunker: Chunker,
        *,
        parser: ParseWorkers,
        max_upload_bytes: int,
        request: RequestIngest | None = None,
    ) -> None:
        self._sessions = sessions
        self._request = request
        self.embedder = embedder
        self.chunker = chunker
        self.parser = parser
        self.max_upload_bytes = max_upload_bytes
        # Tenants whose chunk partition this process has made or seen (a partition is never dropped while the
        # tenant exists, so the cache only saves the function call).
        self._partitions: set[uuid.UUID] = set()

    async def accept(
        self, tenant_id: uuid.UUID, filename: str, data: bytes, *, api_key_id: uuid.UUID | None
    ) -> tuple[Accepted, ParsedDocument | None]:
        """Record an upload by `api_key_id` (the key its embedding tokens are metered to); the parsed document
        comes back when there is a version to ingest, else None."""
        if len(data) > self.max_upload_bytes:
            raise PayloadTooLarge(f"The file is larger than {self.max_upload_bytes} bytes.", param="file")
        media_type = sniff(data, filename)
        sha256 = hashlib.sha256(data).hexdigest()
        # The same bytes again (the usual re-sync) answer from one read: they parsed when they were first stored.
        async with tenant_session(self._sessions, tenant_id) as session:
            known = await repository.by_filename(session, filename)
        if known is not None and known.sha256 == sha256 and known.status == "ready":
            return Accepted(known.id, known.version, known.status, unchanged=True), None
        parsed = await self.parser.parse(data, filename, media_type)
        now = clock.now()
        async with tenant_session(self._sessions, tenant_id) as session:
            await repository.lock_filename(session, tenant_id, filename)
            existing = await repository.by_filename(session, filename)
            if existing is None:
                document_id = uuid.uuid4()
                await repository.insert_document(
                    session,
                    document_id=document_id,
                    tenant_id=tenant_id,
                    filename=filename,
                    media_type=media_type,
                    sha256=sha256,
                    content=data,
                    api_key_id=api_key_id,
                    now=now,
                )
                return Accepted(document_id, 1, "queued", unchanged=False), parsed
            if existing.sha256 == sha256 and existing.status == "ready":
                return Accepted(existing.id, existing.version, existing.status, unchanged=True), None
            # Changed bytes, or the same bytes whose version never became ready (failed, or left queued or
            # processing by an ingest that died): the next version, so a late message for the old one is stale.
            version = await repository.new_version(
                session,
                existing.id,
                media_type=media_type,
                sha256=sha256,
                content=data,
                api_key_id=api_key_id,
                now=now,
            )
            return Accepted(existing.id, version, "queued", unchanged=False), parsed

    async def submit(
        self, tenant_id: uuid.UUID, filename: str, data: bytes, *, api_key_id: uuid.UUID | None
    ) -> Accepted:
        """The API's upload: accept, then hand a new version to the consumer (JetStream), or ingest it here when
        there is no JetStream pipeline or NATS cannot take the request."""
        if self._request is None:
            return await self.accept_and_ingest(tenant_id, filename, data, api_key_id=api_key_id)
        accepted, parsed = await self.accept(tenant_id, filename, data, api_key_id=api_key_id)
        if accepted.unchanged:
            return accepted
        try:
            await self._request(tenant_id, accepted.document_id, accepted.version)
            return accepted
        except NATS_UNAVAILABLE as exc:
            log.warning("ingest request not published, ingesting inline", extra={"error": repr(exc)[:200]})
        return await self._ingest_now(tenant_id, accepted, parsed)

    async def accept_and_ingest(
        self, tenant_id: uuid.UUID, filename: str, data: bytes, *, api_key_id: uuid.UUID | None
    ) -> Accepted:
        """Accept, then ingest the new version here (the pipeline without JetStream)."""
        accepted, parsed = await self.accept(tenant_id, filename, data, api_key_id=api_key_id)
        if accepted.unchanged:
            return accepted
        return await self._ingest_now(tenant_id, accepted, parsed)

    async def _ingest_now(self, tenant_id: uuid.UUID, accepted: Accepted, parsed: ParsedDocument | None) -> Accepted:
        result = await self.ingest(tenant_id, accepted.document_id, accepted.version, parsed=parsed)
        status = "ready" if result is not None else "failed"
        return Accepted(accepted.document_id, accepted.version, status, unchanged=False)

    async def ingest(
        self, tenant_id: uuid.UUID, document_id: uuid.UUID, version: int, *, parsed: ParsedDocument | None = None
    ) -> IngestResult | None:
        """Ingest one version; None when it is not the document's current, unfinished version or it failed."""
        # Given the parsed document (the inline path), its chunks' stored vectors are looked up in the transaction
        # that claims the version, and the original bytes are not read back: one transaction less per document.
        chunks = self.chunker.chunks(parsed) if parsed is not None else None

        async def claim(session: AsyncSession) -> tuple[DocumentRow | None, bytes, dict[str, str] | None]:
            if chunks is None:
                found = await repository.get_for_update(session, document_id)
                row, data = (None, b"") if found is None else found
            else:
                row, data = await repository.lock(session, document_id), b""
            if row is None or row.version != version or row.status == "ready":
                return None, b"", None
            await repository.set_status(session, document_id, version, "processing", error=None, now=clock.now())
            return row, data, None if chunks is None else await self._stored_vectors(session, chunks)

        row, data, stored = await retry_tenant_transaction(self._sessions, tenant_id, claim)
        if row is None:
            return None
        if chunks is None:
            try:
                chunks = self.chunker.chunks(await self.parser.parse(data, row.filename, row.media_type))
            except ParseError as exc:
                async with tenant_session(self._sessions, tenant_id) as session:
                    await repository.set_status(
                        session, document_id, version, "failed", error=exc.message, now=clock.now()
                    )
                return None
        started_at = clock.now()
        vectors = await self._vectors(tenant_id, chunks, stored)
        completed_at = clock.now()
        await self._ensure_partition(tenant_id)
        embedded = _Embedded(tenant_id, document_id, version, chunks, vectors, started_at, completed_at)
        result = await retry_tenant_transaction(
            self._sessions, tenant_id, lambda session: self._store(session, embedded)
        )
        if result is None:
            return None  # deleted or superseded while we embedded: the newer message does the work
        log.info(
            "document ingested",
            extra={
                "document_id": str(document_id),
                "version": version,
                "chunks": result.chunks,
                "embedded": result.embedded,
                "embedding_tokens": result.tokens,
            },
        )
        return result

    async def _store(self, session: AsyncSession, work: _Embedded) -> IngestResult | None:
        """The version's chunks in, the previous version's out, the document ready (and its usage event), in the
        caller's one transaction; None when the version was deleted or superseded meanwhile."""
        tenant_id, document_id, version, chunks, vectors = (
            work.tenant_id,
            work.document_id,
            work.version,
            work.chunks,
            work.vectors,
        )
        current = await repository.lock(session, document_id)
        if current is None or current.version != version:
            return None
        await repository.insert_chunks(
            session,
            tenant_id=tenant_id,
            document_id=document_id,
            version=version,
            model_id=self.embedder.model_id,
            dimension=self.embedder.dimension,
            chunks=[
                NewChunk(
                    id=uuid.uuid4(),
                    ordinal=chunk.ordinal,
                    content=chunk.content,
                    section_path=chunk.section_path,
                    page=chunk.page,
                    content_sha256=chunk.content_sha256,
                    embedding=vectors.by_sha[chunk.content_sha256],
                )
                for chunk in chunks
            ],
        )
        await repository.delete_other_versions(session, document_id, version)
        embedded = vectors.embedded_chunks
        result = IngestResult(len(chunks), embedded, len(chunks) - embedded, vectors.tokens)
        await repository.mark_ready(
            session,
            document_id,
            version,
            chunks=result.chunks,
            embedded=result.embedded,
            reused=result.reused,
            tokens=result.tokens,
            now=clock.now(),
        )
        if result.tokens:
            usage = embedding_usage(
                tenant_id,
                current.api_key_id,
                document_id,
                version,
                model_alias=self.embedder.usage_alias,
                model_id=self.embedder.model_id,
                tokens=result.tokens,
                started_at=work.started_at,
                completed_at=work.completed_at,
            )
            await write_outbox(session, usage)
        return result

    async def _stored_vectors(self, session: AsyncSession, chunks: list[Chunk]) -> dict[str, str]:
        """The tenant's stored vectors of these chunks' content hashes (embedded by this model)."""
        shas = list(dict.fromkeys(chunk.content_sha256 for chunk in chunks))
        return await repository.vectors_by_sha(session, shas, self.embedder.model_id)

    async def _vectors(self, tenant_id: uuid.UUID, chunks: list[Chunk], stored: dict[str, str] | None) -> _Vectors:
        """A vector per content hash: the tenant's stored ones (`stored`, else read now), the rest embedded now
        (each text once), with the chunks and tokens that embedding cost."""
        texts = {chunk.content_sha256: chunk.embedded_text for chunk in chunks}
        if stored is None:
            async with tenant_session(self._sessions, tenant_id) as session:
                stored = await self._stored_vectors(session, chunks)
        vectors = dict(stored)
        missing = [sha for sha in texts if sha not in vectors]
        to_embed = [texts[sha] for sha in missing]
        fresh = await self.embedder.embed(to_embed)
        vectors.update(zip(missing, fresh, strict=True))
        fresh_hashes = set(missing)
        embedded_chunks = sum(1 for chunk in chunks if chunk.content_sha256 in fresh_hashes)
        return _Vectors(vectors, embedded_chunks, self.embedder.tokens(to_embed))

    async def _ensure_partition(self, tenant_id: uuid.UUID) -> None:
        if tenant_id in self._partitions:
            return
        # A transaction of its own: making a partition locks the parent table briefly, not for a whole ingest.
        await retry_tenant_transaction(
            self._sessions, tenant_id, lambda session: repository.ensure_partition(session, tenant_id)
        )
        self._partitions.add(tenant_id)


async def list_documents(session: AsyncSession, *, limit: int, after: uuid.UUID | None) -> list[DocumentRow]:
    rows: list[DocumentRow] = await repository.listing(session, limit=limit, after=after)
    return rows


async def get_document(session: AsyncSession, document_id: uuid.UUID) -> DocumentRow:
    row = await repository.get(session, document_id)
    if row is None:
        raise NotFound("No such document.", code="document_not_found", param="document_id")
    return row


async def delete_document(session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Chunks, document (with its original bytes) and the `kb.document.deleted` outbox event in the caller's one
    transaction; 404 if there is none."""
    deleted = await repository.delete_document(session, document_id)
    if deleted is None:
        raise NotFound("No such document.", code="document_not_found", param="document_id")
    event = document_deleted(
        tenant_id,
        document_id,
        filename=deleted.filename,
        version=deleted.version,
        chunks_deleted=deleted.chunks_deleted,
    )
    await write_outbox(session, event)
