"""The pipeline on JetStream (acceptance 11): a burst of uploads raises the durable consumer's lag in `/jsz` (what
KEDA reads), the consumer process drains it to 0 and every version becomes ready; a poison message goes to the DLQ.

Runs on the shared NATS (its monitoring port is NATS_MONITOR_URL): the INGEST stream and its consumer are this
service's alone.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import nats

from aiaas_testing import InfraUrls, ServiceProcess

from .factories import ingestion_env

BURST = 12


async def _lag(monitor: str) -> int | None:
    """num_pending + num_ack_pending of INGEST/ingestion-documents (None before the consumer exists)."""
    async with httpx2.AsyncClient(timeout=5) as http:
        jsz = (
            await http.get(f"{monitor}/jsz", params={"accounts": "true", "streams": "true", "consumers": "true"})
        ).json()
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            for consumer in stream.get("consumer_detail") or []:
                if stream["name"] == "INGEST" and consumer["name"] == "ingestion-documents":
                    return int(consumer["num_pending"]) + int(consumer["num_ack_pending"])
    return None


async def _last_dead_letter(js: Any) -> Any:
    try:
        return await js.get_last_msg("DLQ", "dlq.INGEST.ingestion-documents")
    except nats.js.errors.NotFoundError:
        return None


async def test_a_burst_raises_consumer_lag_and_the_consumer_drains_it(
    jetstream_url: str, make_tenant: Callable[..., Any], infra_urls: InfraUrls, run_dir: Path
) -> None:
    monitor = os.environ.get("NATS_MONITOR_URL", "http://127.0.0.1:58222")
    tenant = await make_tenant()
    base_lag = await _lag(monitor) or 0
    async with httpx2.AsyncClient(base_url=jetstream_url, timeout=60, headers=tenant.auth) as client:
        ids = []
        for i in range(BURST):
            body = f"# Note {i}\n\nTopic {i}: the roastery ships batch {i} on day {i % 7}.".encode()
            response = await client.post(
                "/v1/ingestion/documents", files={"file": (f"note-{i}.md", body, "text/plain")}
            )
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "queued"
            ids.append(response.json()["document_id"])
        lag = await _lag(monitor)
        assert lag is not None and lag >= base_lag + BURST, (lag, base_lag)

        consumer = ServiceProcess(
            ["-m", "ingestion", "consume"],
            env=ingestion_env(infra_urls, INGESTION_CONSUMER_METRICS_PORT="0"),
            log_path=run_dir / "ingestion-consumer.log",
        ).start()
        try:
            deadline = time.monotonic() + 120
            statuses: list[str] = []
            while time.monotonic() < deadline:
                statuses = [(await client.get(f"/v1/ingestion/documents/{i}")).json()["status"] for i in ids]
                if all(status == "ready" for status in statuses) and await _lag(monitor) == 0:
                    break
                await asyncio.sleep(0.5)
            assert statuses == ["ready"] * BURST, statuses
            assert await _lag(monitor) == 0
            found = await client.post("/v1/ingestion/search", json={"query": "batch 7", "mode": "fulltext"})
            assert [r["citation"]["filename"] for r in found.json()["results"]] == ["note-7.md"]

            # A message that is no event at all is dead-lettered at once, and the consumer goes on.
            nc = await nats.connect(infra_urls.nats_url)
            try:
                js = nc.jetstream()
                before = await _last_dead_letter(js)
                poison = f"not an event {tenant.id}".encode()
                await js.publish(f"ingest.document.requested.{tenant.id}", poison)
                deadline = time.monotonic() + 30
                last = before
                while time.monotonic() < deadline and (last is None or last.data != poison):
                    await asyncio.sleep(0.3)
                    last = await _last_dead_letter(js)
                assert last is not None and last.data == poison
                assert await _lag(monitor) == 0
            finally:
                await nc.close()
        finally:
            consumer.stop()
