"""Tenants uploading their first documents at the same moment (the evals runner's pattern).

A tenant's first ingest creates its `kb_chunks` partition (`kb_ensure_partition`: ACCESS EXCLUSIVE on kb_chunks,
SHARE ROW EXCLUSIVE on kb_documents and tenants for the inherited foreign keys) while other tenants' ingest
transactions hold kb_documents locks and go on to kb_chunks. Before migration 0033 the function locked kb_chunks
first and Postgres aborted one side with a deadlock (an upload answered 500 and its document stayed `queued`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import create_engine, session_factory, tenant_session
from aiaas_testing import InfraUrls
from ingestion.chunking import Chunker
from ingestion.documents import repository
from ingestion.documents.service import Pipeline, get_document
from ingestion.embedding import ChunkEmbedder
from ingestion.parsing.worker import ParseWorkers

NOW = datetime(2026, 12, 7, tzinfo=UTC)
TENANTS = 6
ROUNDS = 3


@pytest.fixture
async def wide_sessions(infra_urls: InfraUrls) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """app_runtime sessions with a connection per concurrent upload (the session fixture's pool has 2)."""
    engine = create_engine(infra_urls.database_url, pool_size=2 * TENANTS, application_name="ingestion-concurrency")
    yield session_factory(engine)
    await engine.dispose()


async def _status(sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, document: uuid.UUID) -> str:
    async with tenant_session(sessions, tenant) as session:
        return (await get_document(session, document)).status


async def test_fresh_tenants_uploading_their_first_documents_at_once_all_become_ready(
    wide_sessions: async_sessionmaker[AsyncSession],
    embedder: ChunkEmbedder,
    parser: ParseWorkers,
    make_tenant: Callable[..., Any],
) -> None:
    for round_ in range(ROUNDS):
        tenants = [(await make_tenant()).id for _ in range(TENANTS)]
        # One pipeline per tenant, as separate API processes are: none has seen another's partition.
        pipelines = [
            Pipeline(wide_sessions, embedder, Chunker(), parser=parser, max_upload_bytes=1 << 20) for _ in tenants
        ]
        body = f"# Notes\n\nRound {round_}: first upload of a fresh tenant about roasting beans.".encode()
        results = await asyncio.gather(
            *(
                pipeline.accept_and_ingest(tenant, "first.md", body, api_key_id=None)
                for pipeline, tenant in zip(pipelines, tenants, strict=True)
            ),
            return_exceptions=True,
        )
        failures = [repr(result) for result in results if isinstance(result, BaseException)]
        assert not failures, (round_, failures)
        for tenant, accepted in zip(tenants, results, strict=True):
            assert not isinstance(accepted, BaseException)
            assert (accepted.version, accepted.status, accepted.unchanged) == (1, "ready", False)
            assert await _status(wide_sessions, tenant, accepted.document_id) == "ready"


async def test_fresh_tenants_first_uploads_through_the_api_at_once_all_answer_ready(
    ingestion_url: str, make_tenant: Callable[..., Any]
) -> None:
    """The evals runner's case: one API process, 4 tenants' first uploads in flight together."""
    async with httpx2.AsyncClient(base_url=ingestion_url, timeout=120) as client:
        for round_ in range(2):
            tenants = [await make_tenant() for _ in range(4)]
            body = f"# FAQ\n\nRound {round_}: how long does shipping take? Three days.".encode()
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v1/ingestion/documents", headers=tenant.auth, files={"file": ("faq.md", body, "text/plain")}
                    )
                    for tenant in tenants
                )
            )
            assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
            assert [(r.json()["status"], r.json()["unchanged"]) for r in responses] == [("ready", False)] * 4


async def _insert_document(session: AsyncSession, tenant: uuid.UUID, name: str) -> uuid.UUID:
    document = uuid.uuid4()
    await repository.insert_document(
        session,
        document_id=document,
        tenant_id=tenant,
        filename=name,
        media_type="text/markdown",
        sha256="0" * 64,
        content=b"# x",
        api_key_id=None,
        now=NOW,
    )
    return document


async def _waiting(sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, marker: str) -> bool:
    """Whether the backend running the statement tagged `marker` waits for a lock (pg_stat_activity)."""
    async with tenant_session(sessions, tenant) as session:
        found = await session.execute(
            text(
                "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like :q"
                " and pid <> pg_backend_pid()"
            ),
            {"q": f"%{marker}%"},
        )
        return found.first() is not None


async def _make_partition_while(
    sessions: async_sessionmaker[AsyncSession], maker: uuid.UUID, observer: uuid.UUID
) -> asyncio.Task[None]:
    """Start `maker`'s partition creation and return once it waits for a lock the caller's transaction holds."""
    marker = f"partition-{uuid.uuid4().hex}"

    async def make() -> None:
        async with tenant_session(sessions, maker) as session:
            await session.execute(text(f"select kb_ensure_partition(:t) /* {marker} */"), {"t": maker})

    task = asyncio.create_task(make())
    for _ in range(200):
        if await _waiting(sessions, observer, marker):
            return task
        await asyncio.sleep(0.02)
    task.cancel()
    raise AssertionError("the partition maker never waited for the open ingest transaction")


async def test_an_ingest_claim_that_reads_chunks_after_writing_the_document_survives_a_partition_maker(
    wide_sessions: async_sessionmaker[AsyncSession], make_tenant: Callable[..., Any]
) -> None:
    """The inline claim: lock + update the document (RowExclusive on kb_documents), then read kb_chunks."""
    a, b = (await make_tenant()).id, (await make_tenant()).id
    async with tenant_session(wide_sessions, a) as session:
        document = await _insert_document(session, a, "a.md")
    async with tenant_session(wide_sessions, a) as session:
        await repository.lock(session, document)
        await repository.set_status(session, document, 1, "processing", error=None, now=NOW)
        maker = await _make_partition_while(wide_sessions, b, a)
        assert await repository.vectors_by_sha(session, ["1" * 64], "m") == {}
    await asyncio.wait_for(maker, 30)


async def test_an_ingest_store_that_updates_the_document_after_inserting_chunks_survives_a_partition_maker(
    wide_sessions: async_sessionmaker[AsyncSession], make_tenant: Callable[..., Any]
) -> None:
    """The store transaction (and delete's): lock the document, write kb_chunks, then update kb_documents."""
    a, b = (await make_tenant()).id, (await make_tenant()).id
    async with tenant_session(wide_sessions, a) as session:
        await repository.ensure_partition(session, a)
        document = await _insert_document(session, a, "a.md")
    async with tenant_session(wide_sessions, a) as session:
        await repository.lock(session, document)
        assert await repository.delete_other_versions(session, document, 1) == 0
        maker = await _make_partition_while(wide_sessions, b, a)
        await repository.mark_ready(session, document, 1, chunks=0, embedded=0, reused=0, tokens=0, now=NOW)
    await asyncio.wait_for(maker, 30)
