"""Parsing under a time limit (ingestion/parsing/worker.py): a PDF pypdf spins on is cut off at the limit, its
worker killed and replaced; the API answers 422 `parse_timeout` and stores nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from aiaas_testing import InfraUrls, ServiceProcess, free_port
from ingestion.parsing import UnparsableDocument
from ingestion.parsing.parsers import PDF
from ingestion.parsing.worker import ParseTimeout, ParseWorkers

from .factories import RETURNS_PAGES, fixture_bytes, ingestion_env, slow_pdf

LIMIT_S = 1.0


async def test_a_pdf_past_the_limit_times_out_and_its_worker_is_replaced() -> None:
    workers = ParseWorkers(1, LIMIT_S)
    try:
        await workers.start()
        [first] = list(workers._all)  # noqa: SLF001 - the test watches the one worker's process
        started = time.monotonic()
        with pytest.raises(ParseTimeout) as caught:
            await workers.parse(slow_pdf(), "slow.pdf", PDF)
        assert LIMIT_S <= time.monotonic() - started < LIMIT_S + 2
        assert (caught.value.status, caught.value.code) == (422, "parse_timeout")
        assert not first.process.is_alive()
        # The replacement parses the next file as usual.
        document = await workers.parse(fixture_bytes("returns-policy.pdf"), "returns-policy.pdf", PDF)
        assert [section.page for section in document.sections] == [1, 2]
        assert RETURNS_PAGES[1][0] in document.text
        [second] = list(workers._all)  # noqa: SLF001
        assert second is not first and second.process.is_alive()
    finally:
        await workers.aclose()
    assert not second.process.is_alive()


async def test_parse_errors_come_back_as_they_were_raised(parser: ParseWorkers) -> None:
    with pytest.raises(UnparsableDocument) as caught:
        await parser.parse(b"%PDF-1.4\nnot really a pdf", "broken.pdf", PDF)
    assert (caught.value.code, caught.value.message) == ("unparsable_document", "The PDF is corrupt or cannot be read.")
    document = await parser.parse(b"# Title\n\nBody text.", "a.md", "text/markdown")
    assert [(section.path, section.text) for section in document.sections] == [(("Title",), "Body text.")]


@pytest.fixture(scope="module")
def short_limit_url(run_dir: Path, infra_urls: InfraUrls) -> Iterator[str]:
    """An ingestion API whose parse limit is 1 s."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "ingestion", "--host", "127.0.0.1", "--port", str(port)],
        env=ingestion_env(infra_urls, INGESTION_PARSE_TIMEOUT_S=str(LIMIT_S), INGESTION_PARSE_WORKERS="1"),
        log_path=run_dir / f"ingestion-short-limit-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


async def test_the_api_answers_422_parse_timeout_and_stores_nothing(
    short_limit_url: str, make_tenant: Callable[..., Any]
) -> None:
    tenant = await make_tenant()
    async with httpx2.AsyncClient(base_url=short_limit_url, timeout=30, headers=tenant.auth) as client:
        response = await client.post(
            "/v1/ingestion/documents", files={"file": ("slow.pdf", slow_pdf(), "application/pdf")}
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["type"], error["param"]) == ("parse_timeout", "invalid_request_error", "file")
        assert (await client.get("/v1/ingestion/documents")).json()["data"] == []
        pdf = fixture_bytes("returns-policy.pdf")
        ok = await client.post("/v1/ingestion/documents", files={"file": ("returns.pdf", pdf, "application/pdf")})
        assert ok.status_code == 202 and ok.json()["status"] == "ready", ok.text
