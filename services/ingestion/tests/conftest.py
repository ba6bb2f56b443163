"""Ingestion test fixtures: the real API process on the shared Postgres (app_runtime only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiaas_testing import InfraUrls, ServiceProcess, free_port
from ingestion.embedding import ChunkEmbedder
from ingestion.parsing.worker import ParseWorkers

from .factories import MAX_UPLOAD_BYTES, ingestion_env


@pytest.fixture(scope="session")
def embedder() -> ChunkEmbedder:
    return ChunkEmbedder.default()


@pytest.fixture(scope="session")
async def parser() -> AsyncIterator[ParseWorkers]:
    """The parse worker processes the in-process pipelines share (the default 20 s limit)."""
    workers = ParseWorkers(2, 20.0)
    await workers.start()
    yield workers
    await workers.aclose()


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingestion-run")


@pytest.fixture(scope="session")
def ingestion_url(run_dir: Path, infra_urls: InfraUrls) -> Iterator[str]:
    """One ingestion API process shared by the tests."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "ingestion", "--host", "127.0.0.1", "--port", str(port)],
        env=ingestion_env(infra_urls, INGESTION_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES)),
        log_path=run_dir / f"ingestion-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def jetstream_url(run_dir: Path, infra_urls: InfraUrls) -> Iterator[str]:
    """An ingestion API that hands new versions to JetStream (`INGESTION_PIPELINE=jetstream`) instead of ingesting."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "ingestion", "--host", "127.0.0.1", "--port", str(port)],
        env=ingestion_env(infra_urls, INGESTION_PIPELINE="jetstream"),
        log_path=run_dir / f"ingestion-js-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()
