"""A version that never became ready does not make the same bytes `unchanged`, and a transaction Postgres aborts
with a deadlock or serialization failure is run again whole (aiaas.db.retry_tenant_transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import is_transaction_conflict, retry_tenant_transaction, tenant_session
from ingestion.chunking import Chunker
from ingestion.documents.service import Pipeline, get_document
from ingestion.embedding import ChunkEmbedder
from ingestion.parsing.worker import ParseWorkers

BODY = b"# Grinders\n\nBurr grinders keep the particle size even for espresso."


@pytest.fixture
def pipeline(
    runtime_sessions: async_sessionmaker[AsyncSession], embedder: ChunkEmbedder, parser: ParseWorkers
) -> Pipeline:
    return Pipeline(runtime_sessions, embedder, Chunker(), parser=parser, max_upload_bytes=1 << 20)


async def _document(sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, document: uuid.UUID) -> Any:
    async with tenant_session(sessions, tenant) as session:
        return await get_document(session, document)


@pytest.mark.parametrize("left", ["queued", "processing"])
async def test_the_same_bytes_again_re_ingest_a_version_an_aborted_upload_left_unfinished(
    left: str,
    pipeline: Pipeline,
    make_tenant: Callable[..., Any],
    runtime_sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = (await make_tenant()).id
    # The upload stored its version and died before the ingest finished (the 500 of a deadlock, a crash).
    stuck, _ = await pipeline.accept(tenant, "grinders.md", BODY, api_key_id=None)
    assert (stuck.version, stuck.status, stuck.unchanged) == (1, "queued", False)
    if left == "processing":
        async with tenant_session(runtime_sessions, tenant) as session:
            await session.execute(
                text("update kb_documents set status = 'processing' where id = :d"), {"d": stuck.document_id}
            )

    again = await pipeline.accept_and_ingest(tenant, "grinders.md", BODY, api_key_id=None)
    assert (again.document_id, again.version, again.status, again.unchanged) == (stuck.document_id, 2, "ready", False)
    document = await _document(runtime_sessions, tenant, stuck.document_id)
    assert (document.status, document.version, document.chunk_count) == ("ready", 2, 1)
    # The late message for the abandoned version changes nothing; once ready, the same bytes are unchanged.
    assert await pipeline.ingest(tenant, stuck.document_id, 1) is None
    encoded = pipeline.embedder.encoded
    third = await pipeline.accept_and_ingest(tenant, "grinders.md", BODY, api_key_id=None)
    assert (third.version, third.status, third.unchanged) == (2, "ready", True)
    assert pipeline.embedder.encoded == encoded


async def test_a_failed_version_is_retried_by_the_same_bytes(
    pipeline: Pipeline, make_tenant: Callable[..., Any], runtime_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = (await make_tenant()).id
    stuck, _ = await pipeline.accept(tenant, "grinders.md", BODY, api_key_id=None)
    async with tenant_session(runtime_sessions, tenant) as session:
        await session.execute(
            text("update kb_documents set status = 'failed', error = 'x' where id = :d"), {"d": stuck.document_id}
        )
    again = await pipeline.accept_and_ingest(tenant, "grinders.md", BODY, api_key_id=None)
    assert (again.version, again.status, again.unchanged) == (2, "ready", False)
    assert (await _document(runtime_sessions, tenant, stuck.document_id)).error is None


_RAISE = "do $$ begin raise exception 'aborted by the test' using errcode = '{code}'; end $$"


@pytest.mark.parametrize("code", ["40P01", "40001"])
async def test_a_transaction_aborted_by_a_conflict_is_run_again_whole(
    code: str, make_tenant: Callable[..., Any], runtime_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = (await make_tenant()).id
    attempts: list[int] = []

    async def work(session: AsyncSession) -> int:
        attempts.append(1)
        await session.execute(text("create temporary table if not exists probe (n int) on commit drop"))
        await session.execute(text("insert into probe values (:n)"), {"n": len(attempts)})
        if len(attempts) == 1:
            await session.execute(text(_RAISE.format(code=code)))
        return int((await session.execute(text("select sum(n) from probe"))).scalar_one())

    # The second attempt sees only its own row: the first one's was rolled back with it.
    assert await retry_tenant_transaction(runtime_sessions, tenant, work) == 2
    assert len(attempts) == 2


async def test_other_errors_and_repeated_conflicts_are_raised(
    make_tenant: Callable[..., Any], runtime_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = (await make_tenant()).id
    calls: list[str] = []

    def fails(code: str) -> Callable[[AsyncSession], Any]:
        async def work(session: AsyncSession) -> None:
            calls.append(code)
            await session.execute(text(_RAISE.format(code=code)))

        return work

    with pytest.raises(DBAPIError) as raised:
        await retry_tenant_transaction(runtime_sessions, tenant, fails("42501"))
    assert calls == ["42501"] and not is_transaction_conflict(raised.value)
    with pytest.raises(DBAPIError) as raised:
        await retry_tenant_transaction(runtime_sessions, tenant, fails("40P01"), attempts=3)
    assert calls[1:] == ["40P01"] * 3 and is_transaction_conflict(raised.value)
