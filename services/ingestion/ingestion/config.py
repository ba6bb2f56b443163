"""Ingestion settings (env prefix `INGESTION_`); infrastructure URLs are shared."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aiaas.service_callers import service_key_names
from aiaas.settings import AdminDatabaseSettings, MetricsPort, ServiceSettings

__all__ = ["IngestionSettings", "IngestionAdminSettings"]


class IngestionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGESTION_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "ingestion"
    port: int = 8095
    metrics_port: MetricsPort = 9120
    tracing: bool = True
    auth_cache_ttl_s: float = 5.0
    # Platform services' credentials: named platform-admin keys (sk-admin-...) that may search and read documents
    # for the tenant in `x-aiaas-tenant-id` (aiaas.service_callers). Comma-separated; empty = none.
    service_key_names: str = "orchestrator"
    # The largest file accepted (413 above it); the request body may carry this plus the multipart framing.
    max_upload_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    # Chunks: token windows of the embedder's tokenizer (its model reads 256 at most, the section path included).
    chunk_max_tokens: int = Field(200, ge=16, le=240)
    chunk_overlap_tokens: int = Field(40, ge=0, le=120)
    # Search: each leg's candidates before fusion, HNSW's candidate list (40: recall@10 0.99 at 100k clustered
    # chunks in benchmarks/retrieval.py's sweep, 100 gave 1.00 at twice the time), reciprocal-rank fusion's k.
    search_candidates: int = Field(50, ge=1, le=500)
    hnsw_ef_search: int = Field(40, ge=10, le=1000)
    rrf_k: int = Field(60, ge=1)
    # How an upload's new version is ingested: "inline" in the request (no JetStream), or "jetstream": the API
    # publishes `ingest.document.requested.<tenant>` and answers 202 queued, `python -m ingestion consume` ingests
    # (NATS unreachable at upload: the API ingests inline rather than leave the version queued with no message).
    pipeline: Literal["inline", "jetstream"] = "inline"
    publish_timeout_s: float = Field(2.0, gt=0)
    # The consumer process: messages fetched at once (each embeds its document) and its metrics listener.
    consumer_batch_size: int = Field(4, ge=1, le=64)
    consumer_metrics_port: MetricsPort = 9121
    # Embedder variant of aiaas_embedder ("int8": MatMuls in int8, the platform's default; "shipped": as published).
    embedder_variant: str = Field("int8", pattern="^(int8|shipped)$")
    # Files are parsed in this many worker processes; one taking longer than the limit is killed and the upload is
    # 422 `parse_timeout` (pypdf can spin on a hostile PDF).
    parse_timeout_s: float = Field(20.0, gt=0, le=600)
    parse_workers: int = Field(2, ge=1, le=32)

    @property
    def service_keys(self) -> frozenset[str]:
        return service_key_names(self.service_key_names)

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + 64 * 1024


class IngestionAdminSettings(AdminDatabaseSettings, IngestionSettings):
    """`python -m ingestion reindex` without `--tenant`: it lists the tenants to reindex across tenants
    (platform_admin); the reindexing itself runs as app_runtime, one tenant at a time."""
