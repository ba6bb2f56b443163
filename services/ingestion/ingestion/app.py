"""Builds the ingestion API (`/v1/ingestion/*`, tenant keys, app_runtime only); every resource is born in `lifespan`.

A platform service's credential (the orchestrator's admin key, `INGESTION_SERVICE_KEY_NAMES`) may search and read
documents for the tenant in `x-aiaas-tenant-id` (aiaas.service_callers): the routes' `IngestionKeyDep` and
tenant session then act for that tenant; uploads and deletes stay the tenant's own.

The embedder is loaded (and warmed) before the app serves: its first load takes a few hundred ms. With
`INGESTION_PIPELINE=jetstream` the API also holds a NATS connection: uploads publish the pipeline's requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.auth import AdminKeyResolver, ApiKeyResolver, use_api_key_resolver
from aiaas.db import create_engine, session_factory
from aiaas.deps import set_service_state
from aiaas.events import EventPublisher
from aiaas.scopes import INGESTION
from aiaas.service_app import ServiceApp, service_app
from aiaas.service_callers import ServiceKeys, TenantKnown, accept_service_keys
from ingestion.chunking import Chunker
from ingestion.config import IngestionSettings
from ingestion.documents.endpoints import router as documents_router
from ingestion.documents.service import Pipeline, RequestIngest
from ingestion.embedding import ChunkEmbedder
from ingestion.events import ensure_ingest_topology, publish_requested
from ingestion.health import router as health_router
from ingestion.parsing.worker import ParseWorkers
from ingestion.search.endpoints import router as search_router
from ingestion.state import IngestionState

__all__ = ["create_app", "build_pipeline"]

# What a service credential may call: the reads (the orchestrator's FAQ retrieves through search).
SERVICE_ROUTES = (
    ("POST", "/v1/ingestion/search"),
    ("GET", "/v1/ingestion/documents"),
    ("GET", "/v1/ingestion/documents/{document_id}"),
)


def build_pipeline(
    settings: IngestionSettings, sessions: async_sessionmaker[AsyncSession], request: RequestIngest | None = None
) -> Pipeline:
    """The pipeline the API and the consumer run: the offline embedder, the chunker on its tokenizer, the parse
    workers (started on first use; the owner closes them: `pipeline.parser.aclose()`)."""
    embedder = ChunkEmbedder.default(settings.embedder_variant)
    chunker = Chunker(settings.chunk_max_tokens, settings.chunk_overlap_tokens)
    parser = ParseWorkers(settings.parse_workers, settings.parse_timeout_s)
    return Pipeline(
        sessions, embedder, chunker, parser=parser, max_upload_bytes=settings.max_upload_bytes, request=request
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: IngestionSettings = app.state.settings
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="ingestion")
    sessions = session_factory(engine)
    resolver = ApiKeyResolver(engine, cache_ttl_s=settings.auth_cache_ttl_s)
    nc: NATS | None = None
    request: RequestIngest | None = None
    if settings.pipeline == "jetstream":
        nc = await nats.connect(
            settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name=settings.service_name
        )
        js = nc.jetstream()
        await ensure_ingest_topology(js)
        request = functools.partial(publish_requested, EventPublisher(js, timeout_s=settings.publish_timeout_s))
    pipeline = await asyncio.to_thread(build_pipeline, settings, sessions, request)
    await pipeline.embedder.embed(["warm up"], kind="warmup")
    await pipeline.parser.start()
    set_service_state(
        app, IngestionState(settings=settings, engine=engine, sessions=sessions, resolver=resolver, pipeline=pipeline)
    )
    use_api_key_resolver(app, resolver)
    service_keys = ServiceKeys(
        AdminKeyResolver(engine, cache_ttl_s=settings.admin_key_cache_ttl_s),
        settings.service_keys,
        service="ingestion",
        scope=INGESTION,
    )
    accept_service_keys(app, service_keys, TenantKnown(sessions, ttl_s=settings.auth_cache_ttl_s), SERVICE_ROUTES)
    try:
        yield
    finally:
        await pipeline.parser.aclose()
        if nc is not None:
            await nc.drain()
        await engine.dispose()


def create_app(settings: IngestionSettings | None = None) -> ServiceApp:
    settings = settings or IngestionSettings()
    return service_app(
        settings,
        title="AIaaS ingestion",
        lifespan=_lifespan,
        routers=[documents_router, search_router, health_router],
        tracing=settings.tracing,
        max_body_bytes=settings.max_body_bytes,
    )
