"""The ingestion service's outbox events on the real Postgres (app_runtime, RLS) with the real embedder.

- `kb.document.deleted`: written in the delete's own transaction (a rolled-back delete leaves no event), its
  data the document, its last version and the chunks removed; schema-valid.
- Embedding tokens: an ingest records the model's tokens of the texts it embedded (the embedder's tokenizer, cut at
  256) on the document and in one `usage.recorded` event billed to the uploading key; reused vectors cost 0, the
  same bytes again meter nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tokenizers import Tokenizer

from aiaas.db import admin_session, tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.orchestration import KbDocumentDeleted
from aiaas.events.schemas import UsageRecorded
from data_plane import EVENTS_DIR
from ingestion.chunking import Chunker
from ingestion.documents.service import Pipeline, delete_document, get_document
from ingestion.embedding import ChunkEmbedder
from ingestion.parsing.worker import ParseWorkers

from .factories import fixture_bytes


@pytest.fixture
def pipeline(
    runtime_sessions: async_sessionmaker[AsyncSession], embedder: ChunkEmbedder, parser: ParseWorkers
) -> Pipeline:
    return Pipeline(runtime_sessions, embedder, Chunker(), parser=parser, max_upload_bytes=1 << 20)


def _validate(name: str, payload: dict[str, Any]) -> None:
    resources = []
    for path in EVENTS_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        resources += [(path.name, Resource.from_contents(schema)), (schema["$id"], Resource.from_contents(schema))]
    schema = json.loads((EVENTS_DIR / name).read_text())
    validator = jsonschema.Draft202012Validator(
        schema, registry=Registry().with_resources(resources), format_checker=jsonschema.FormatChecker()
    )
    validator.validate(payload)


async def _outbox(admin_sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, prefix: str) -> list[Any]:
    async with admin_session(admin_sessions) as session:
        rows = await session.execute(
            text(
                "select subject, payload::text from event_outbox where tenant_id = :t and subject like :p order by id"
            ),
            {"t": tenant, "p": f"{prefix}.%"},
        )
        return [(subject, json.loads(payload)) for subject, payload in rows]


def _model_tokens(texts: list[str]) -> int:
    """What MiniLM reads of each text, counted here with its tokenizer file, independently of the service."""
    tokenizer = Tokenizer.from_str(files("aiaas_embedder").joinpath("data", "minilm_tokenizer.json").read_text())
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    return sum(len(tokenizer.encode(text).ids) for text in texts)


async def test_delete_writes_kb_document_deleted_in_its_own_transaction(
    pipeline: Pipeline,
    make_tenant: Callable[..., Any],
    runtime_sessions: async_sessionmaker[AsyncSession],
    admin_sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = (await make_tenant()).id
    name = "account-and-billing.md"
    await pipeline.accept_and_ingest(tenant, name, fixture_bytes(name), api_key_id=None)
    edited = fixture_bytes(name).replace(b"Cash on delivery is not available.", b"Cash on delivery costs 3 euros.")
    accepted = await pipeline.accept_and_ingest(tenant, name, edited, api_key_id=None)
    assert accepted.version == 2
    async with tenant_session(runtime_sessions, tenant) as session:
        chunks = (await get_document(session, accepted.document_id)).chunk_count

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with tenant_session(runtime_sessions, tenant) as session:
            await delete_document(session, tenant, accepted.document_id)
            raise Abort  # the delete rolls back: so does its event
    assert await _outbox(admin_sessions, tenant, "kb.document.deleted") == []
    async with tenant_session(runtime_sessions, tenant) as session:
        assert (await get_document(session, accepted.document_id)).version == 2

    async with tenant_session(runtime_sessions, tenant) as session:
        await delete_document(session, tenant, accepted.document_id)
    [(subject, payload)] = await _outbox(admin_sessions, tenant, "kb.document.deleted")
    assert subject == f"kb.document.deleted.{tenant}"
    _validate("kb.document.deleted.json", payload)
    event = EventEnvelope.model_validate(payload)
    assert (event.type, event.tenant_id) == ("kb.document.deleted", tenant)
    data = KbDocumentDeleted.model_validate(event.data)
    assert (data.document_id, data.filename, data.version) == (accepted.document_id, name, 2)
    assert data.chunks_deleted == chunks > 0


async def test_an_ingest_meters_the_tokens_it_embedded_and_reused_vectors_cost_nothing(
    pipeline: Pipeline,
    make_tenant: Callable[..., Any],
    runtime_sessions: async_sessionmaker[AsyncSession],
    admin_sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = (await make_tenant()).id
    key = uuid.uuid4()
    name = "shipping.html"
    data = fixture_bytes(name)
    first = await pipeline.accept_and_ingest(tenant, name, data, api_key_id=key)
    chunks = pipeline.chunker.chunks(await pipeline.parser.parse(data, name, "text/html"))
    expected = _model_tokens(list(dict.fromkeys(chunk.embedded_text for chunk in chunks)))
    assert expected > 0
    async with tenant_session(runtime_sessions, tenant) as session:
        row = await get_document(session, first.document_id)
    assert (row.embedding_tokens, row.chunks_embedded, row.api_key_id) == (expected, len(chunks), key)

    [(subject, payload)] = await _outbox(admin_sessions, tenant, "usage.recorded")
    assert subject == f"usage.recorded.{tenant}"
    _validate("usage.recorded.json", payload)
    usage = UsageRecorded.model_validate(payload["data"])
    assert (usage.request_id, usage.model_alias, usage.api_key_id) == (
        f"ingest:{first.document_id}:1",
        "embedding:all-MiniLM-L6-v2",
        key,
    )
    assert (usage.tokens_in, usage.tokens_out, usage.cost_usd, usage.status) == (expected, 0, Decimal(0), "success")

    # The same bytes again: nothing ingested, nothing metered.
    again = await pipeline.accept_and_ingest(tenant, name, data, api_key_id=key)
    assert again.unchanged
    # The same bytes under another name: a new document whose every vector is reused, 0 tokens, no event.
    copy = await pipeline.accept_and_ingest(tenant, "copy-of-shipping.html", data, api_key_id=key)
    async with tenant_session(runtime_sessions, tenant) as session:
        copied = await get_document(session, copy.document_id)
    assert (copied.embedding_tokens, copied.chunks_embedded, copied.chunks_reused) == (0, 0, len(chunks))
    assert len(await _outbox(admin_sessions, tenant, "usage.recorded")) == 1

    # An edit meters the changed chunk's tokens only, as the next version's event.
    edited = data.replace(b"Shipping is free for orders over 40", b"Shipping is free for orders above 40")
    assert edited != data
    second = await pipeline.accept_and_ingest(tenant, name, edited, api_key_id=key)
    new_chunks = pipeline.chunker.chunks(await pipeline.parser.parse(edited, name, "text/html"))
    old = {chunk.content_sha256 for chunk in chunks}
    changed = [chunk.embedded_text for chunk in new_chunks if chunk.content_sha256 not in old]
    assert len(changed) == 1
    async with tenant_session(runtime_sessions, tenant) as session:
        assert (await get_document(session, second.document_id)).embedding_tokens == _model_tokens(changed)
    events = await _outbox(admin_sessions, tenant, "usage.recorded")
    assert [e["data"]["request_id"] for _, e in events] == [
        f"ingest:{first.document_id}:1",
        f"ingest:{first.document_id}:2",
    ]
    assert events[1][1]["data"]["tokens_in"] == _model_tokens(changed)
