"""The search legs' SQL on the real Postgres (app_runtime, RLS): the vector leg's settings travel in its one
statement, stay in its transaction, and its order is the exact cosine order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from ingestion.documents import repository as documents
from ingestion.documents.repository import NewChunk
from ingestion.search.repository import fulltext_leg, vector_leg


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


async def _chunks(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, vectors: np.ndarray, words: str
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """One document holding one chunk per vector (content: `words` and its ordinal): its id and the chunks' ids."""
    document_id, ids = uuid.uuid4(), [uuid.uuid4() for _ in vectors]
    async with tenant_session(sessions, tenant) as session:
        await documents.ensure_partition(session, tenant)
        await documents.insert_document(
            session,
            document_id=document_id,
            tenant_id=tenant,
            filename=f"{document_id}.md",
            media_type="text/markdown",
            sha256=uuid.uuid4().hex * 2,
            content=b"test",
            api_key_id=None,
            now=datetime.now(UTC),
        )
        await documents.insert_chunks(
            session,
            tenant_id=tenant,
            document_id=document_id,
            version=1,
            model_id="test",
            dimension=384,
            chunks=[
                NewChunk(chunk_id, i, f"{words} {i}", "", None, uuid.uuid4().hex * 2, _literal(vector))
                for i, (chunk_id, vector) in enumerate(zip(ids, vectors, strict=True))
            ],
        )
    return document_id, ids


def _unit(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, 384))
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


async def test_the_vector_leg_sets_ef_search_for_its_transaction_only_and_returns_the_exact_order(
    make_tenant: Callable[..., Any], runtime_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = (await make_tenant()).id
    rng = np.random.default_rng(7)
    vectors = np.round(_unit(rng, 40), 6)
    _, ids = await _chunks(runtime_sessions, tenant, vectors, "alpha")
    query = _unit(rng, 1)[0]
    expected = [ids[i] for i in np.argsort(-(vectors @ query))[:5]]
    async with tenant_session(runtime_sessions, tenant) as session:
        hits = await vector_leg(session, tenant, _literal(query), limit=5, ef_search=37, document_ids=None)
        settings = (
            await session.execute(
                text("select current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')")
            )
        ).one()
    assert [hit.chunk_id for hit in hits] == expected
    assert [round(hit.score, 4) for hit in hits] == [round(float(vectors[ids.index(c)] @ query), 4) for c in expected]
    assert tuple(settings) == ("37", "strict_order")
    async with tenant_session(runtime_sessions, tenant) as session:
        after = (await session.execute(text("select current_setting('hnsw.ef_search')"))).scalar_one()
    assert after == "40"  # pgvector's default: the leg's setting ended with its transaction


async def test_a_document_filter_fills_the_limit_from_that_document_only(
    make_tenant: Callable[..., Any], runtime_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = (await make_tenant()).id
    rng = np.random.default_rng(8)
    await _chunks(runtime_sessions, tenant, np.round(_unit(rng, 30), 6), "alpha")
    wanted, wanted_ids = await _chunks(runtime_sessions, tenant, np.round(_unit(rng, 30), 6), "beta")
    async with tenant_session(runtime_sessions, tenant) as session:
        by_vector = await vector_leg(
            session, tenant, _literal(_unit(rng, 1)[0]), limit=8, ef_search=10, document_ids=[wanted]
        )
        by_text = await fulltext_leg(session, tenant, "beta", limit=8, document_ids=[wanted])
        none = await fulltext_leg(session, tenant, "beta", limit=8, document_ids=[uuid.uuid4()])
    assert len(by_vector) == 8 and {hit.document_id for hit in by_vector} == {wanted}
    assert {hit.chunk_id for hit in by_vector} <= set(wanted_ids)
    assert len(by_text) == 8 and {hit.document_id for hit in by_text} == {wanted}
    assert none == []
