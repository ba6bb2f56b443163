"""The reindex job (ingestion/reindex): chunks another model embedded get the current model's id and vector, per
tenant under RLS, in batches, once (a second run finds nothing); vectors the tenant has for the same text are reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from aiaas_testing import InfraUrls
from ingestion.chunking import Chunker, embedded_text
from ingestion.documents import repository
from ingestion.documents.repository import NewChunk
from ingestion.documents.service import Pipeline
from ingestion.embedding import ChunkEmbedder, vector_literal
from ingestion.parsing.worker import ParseWorkers
from ingestion.reindex.service import reindex_tenant, tenants_to_reindex

from .factories import ingestion_env

OLD_MODEL = "old-model/v0"
# (section path, content) of the chunks an "old model" embedded; "Burr grinders" is also in a current document.
OLD_TEXTS = [
    ("Beans", "Our espresso blend is roasted on Tuesdays."),
    ("Beans > Storage", "Keep beans in an airtight tin away from light."),
    ("", "Gift cards never expire."),
    ("Grinders", "Burr grinders give an even grind."),
    ("Grinders", "Blade grinders are cheaper."),
]


@pytest.fixture
def pipeline(
    runtime_sessions: async_sessionmaker[AsyncSession], embedder: ChunkEmbedder, parser: ParseWorkers
) -> Pipeline:
    return Pipeline(runtime_sessions, embedder, Chunker(), parser=parser, max_upload_bytes=1 << 20)


async def _old_model_chunks(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, texts: list[tuple[str, str]]
) -> uuid.UUID:
    """A ready document whose chunks carry OLD_MODEL and random vectors, written through the repository."""
    rng = np.random.default_rng(7)
    document = uuid.uuid4()
    async with tenant_session(sessions, tenant) as session:
        await repository.ensure_partition(session, tenant)
        await repository.insert_document(
            session,
            document_id=document,
            tenant_id=tenant,
            filename=f"old-{document}.md",
            media_type="text/markdown",
            sha256="0" * 64,
            content=b"old",
            api_key_id=None,
            now=clock.now(),
        )
        await repository.insert_chunks(
            session,
            tenant_id=tenant,
            document_id=document,
            version=1,
            model_id=OLD_MODEL,
            dimension=384,
            chunks=[
                NewChunk(
                    id=uuid.uuid4(),
                    ordinal=ordinal,
                    content=content,
                    section_path=section,
                    page=None,
                    content_sha256=hashlib.sha256(embedded_text(section, content).encode()).hexdigest(),
                    embedding=vector_literal(rng.standard_normal(384).astype(np.float32)),
                )
                for ordinal, (section, content) in enumerate(texts)
            ],
        )
        await repository.mark_ready(
            session, document, 1, chunks=len(texts), embedded=0, reused=0, tokens=0, now=clock.now()
        )
    return document


async def _chunks(sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, document: uuid.UUID) -> list[Any]:
    async with tenant_session(sessions, tenant) as session:
        rows = await session.execute(
            text(
                "select section_path, content, model_id, dimension, embedding::text as v from kb_chunks"
                " where document_id = :d order by ordinal"
            ),
            {"d": document},
        )
        return list(rows)


def _vector(literal: str) -> np.ndarray:
    return np.array(json.loads(literal), dtype=np.float32)


async def test_reindex_gives_old_model_chunks_the_current_model_and_vector_once(
    pipeline: Pipeline,
    embedder: ChunkEmbedder,
    make_tenant: Callable[..., Any],
    runtime_sessions: async_sessionmaker[AsyncSession],
    admin_sessions: async_sessionmaker[AsyncSession],
) -> None:
    a, b = (await make_tenant()).id, (await make_tenant()).id
    current = await pipeline.accept_and_ingest(
        a, "grinders.md", b"# Grinders\n\nBurr grinders give an even grind.", api_key_id=None
    )
    old_a = await _old_model_chunks(runtime_sessions, a, OLD_TEXTS)
    old_b = await _old_model_chunks(runtime_sessions, b, OLD_TEXTS[:2])
    before = {row.content: row.v for row in await _chunks(runtime_sessions, a, old_a)}
    assert {a, b} <= set(await tenants_to_reindex(admin_sessions, embedder.model_id))

    encoded = embedder.encoded
    result = await reindex_tenant(runtime_sessions, embedder, a, batch_size=2)
    assert (result.tenant_id, result.chunks, result.skipped) == (a, 5, 0)
    assert result.embedded == 4 and embedder.encoded - encoded == 4  # "Burr grinders" reused the current vector
    rows = await _chunks(runtime_sessions, a, old_a)
    assert {(row.model_id, row.dimension) for row in rows} == {(embedder.model_id, 384)}
    expected = await embedder.embed([embedded_text(row.section_path, row.content) for row in rows])
    for row, vector in zip(rows, expected, strict=True):
        assert np.allclose(_vector(row.v), _vector(vector), atol=1e-6), row.content
        assert not np.allclose(_vector(row.v), _vector(before[row.content]), atol=1e-3)
    # The current document's chunk is untouched; B (not named) still has its old chunks.
    assert {row.model_id for row in await _chunks(runtime_sessions, a, current.document_id)} == {embedder.model_id}
    assert {row.model_id for row in await _chunks(runtime_sessions, b, old_b)} == {OLD_MODEL}
    assert a not in await tenants_to_reindex(admin_sessions, embedder.model_id)

    again = await reindex_tenant(runtime_sessions, embedder, a, batch_size=2)
    assert (again.chunks, again.embedded, again.skipped) == (0, 0, 0)
    assert [row.v for row in await _chunks(runtime_sessions, a, old_a)] == [row.v for row in rows]
    # Search by vector now finds the reindexed chunk for its own text.
    async with tenant_session(runtime_sessions, a) as session:
        nearest = (
            await session.execute(
                text("select content from kb_chunks order by embedding <=> cast(:q as vector) limit 1"),
                {"q": (await embedder.embed(["Beans > Storage\nKeep beans in an airtight tin away from light."]))[0]},
            )
        ).scalar_one()
    assert nearest == "Keep beans in an airtight tin away from light."


async def test_the_reindex_command_runs_a_named_tenant_as_app_runtime(
    make_tenant: Callable[..., Any], runtime_sessions: async_sessionmaker[AsyncSession], infra_urls: InfraUrls
) -> None:
    tenant = (await make_tenant()).id
    document = await _old_model_chunks(runtime_sessions, tenant, OLD_TEXTS[:3])
    env = {k: v for k, v in os.environ.items() if k != "ADMIN_DATABASE_URL"}
    env.update(ingestion_env(infra_urls))
    run = subprocess.run(
        [sys.executable, "-m", "ingestion", "reindex", "--tenant", str(tenant), "--batch-size", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    [report] = json.loads(run.stdout.strip().splitlines()[-1])["tenants"]
    assert report == {"tenant_id": str(tenant), "chunks": 3, "embedded": 3, "skipped": 0}
    assert {row.model_id for row in await _chunks(runtime_sessions, tenant, document)} == {"all-MiniLM-L6-v2/int8"}

    everyone = subprocess.run(
        [sys.executable, "-m", "ingestion", "reindex"], env=env, capture_output=True, text=True, timeout=120
    )
    assert everyone.returncode == 2 and "ADMIN_DATABASE_URL" in everyone.stderr
