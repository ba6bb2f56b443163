"""Re-embed chunks stored by another model than the current embedder's: what a change of model needs.

`python -m ingestion reindex [--tenant T ...]` runs it. Each tenant is done under its own RLS (app_runtime, one
transaction to read a batch, one to write it), in batches of `batch_size` by chunk id: a batch's texts (section
path and content, as the pipeline embeds them) get the vectors the tenant already has for the current model (same
content hash), the rest are embedded, and each chunk's vector, model id and dimension are replaced unless the
chunk changed meanwhile (deleted, or reindexed by a concurrent run). Idempotent: a second run finds nothing.
Without `--tenant` the tenants with such chunks are listed on the platform_admin connection, the one cross-tenant
read. Reindexing is the platform's doing: its embedding is not metered to the tenant.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, create_engine, session_factory, tenant_session
from ingestion.chunking import embedded_text
from ingestion.documents.repository import vectors_by_sha
from ingestion.embedding import ChunkEmbedder
from ingestion.reindex import repository

__all__ = ["TenantReindex", "reindex_tenant", "tenants_to_reindex", "run_reindex"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantReindex:
    tenant_id: uuid.UUID
    # Chunks given the current model's vector; texts encoded for them (the others reused a stored vector).
    chunks: int
    embedded: int
    # Chunks that changed between the read and the write (left to the pipeline or the other run).
    skipped: int


async def tenants_to_reindex(admin_sessions: async_sessionmaker[AsyncSession], model_id: str) -> list[uuid.UUID]:
    async with admin_session(admin_sessions) as session:
        return await repository.tenants_to_reindex(session, model_id)


async def reindex_tenant(
    sessions: async_sessionmaker[AsyncSession], embedder: ChunkEmbedder, tenant_id: uuid.UUID, *, batch_size: int
) -> TenantReindex:
    """Give every chunk of the tenant that another model embedded the current model's vector."""
    chunks = embedded = skipped = 0
    after: uuid.UUID | None = None
    while True:
        async with tenant_session(sessions, tenant_id) as session:
            batch = await repository.stale_chunks(session, tenant_id, embedder.model_id, after=after, limit=batch_size)
            texts = {chunk.content_sha256: embedded_text(chunk.section_path, chunk.content) for chunk in batch}
            vectors = await vectors_by_sha(session, list(texts), embedder.model_id)
        if not batch:
            break
        missing = [sha for sha in texts if sha not in vectors]
        vectors.update(zip(missing, await embedder.embed([texts[sha] for sha in missing], kind="reindex"), strict=True))
        async with tenant_session(sessions, tenant_id) as session:
            updated = await repository.set_vectors(
                session,
                tenant_id,
                batch,
                [vectors[chunk.content_sha256] for chunk in batch],
                model_id=embedder.model_id,
                dimension=embedder.dimension,
            )
        chunks += updated
        embedded += len(missing)
        skipped += len(batch) - updated
        after = batch[-1].id
    result = TenantReindex(tenant_id, chunks, embedded, skipped)
    log.info(
        "tenant reindexed",
        extra={"tenant_id": str(tenant_id), "chunks": chunks, "embedded": embedded, "skipped": skipped},
    )
    return result


async def run_reindex(
    database_url: str,
    *,
    admin_database_url: str | None,
    tenants: list[uuid.UUID] | None,
    batch_size: int,
    embedder_variant: str,
) -> list[TenantReindex]:
    """The job: the named tenants, or (listed as platform_admin) every tenant with chunks of another model."""
    embedder = ChunkEmbedder.default(embedder_variant)
    engine = create_engine(database_url, pool_size=2, application_name="ingestion-reindex")
    admin_engine = (
        create_engine(admin_database_url, pool_size=1, application_name="ingestion-reindex-admin")
        if tenants is None and admin_database_url is not None
        else None
    )
    try:
        if tenants is None:
            if admin_engine is None:
                raise ValueError("without tenants the job needs the platform_admin DSN to find them")
            tenants = await tenants_to_reindex(session_factory(admin_engine), embedder.model_id)
        sessions = session_factory(engine)
        return [await reindex_tenant(sessions, embedder, tenant, batch_size=batch_size) for tenant in tenants]
    finally:
        await engine.dispose()
        if admin_engine is not None:
            await admin_engine.dispose()
