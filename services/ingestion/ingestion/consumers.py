"""The pipeline's JetStream consumer: `ingest.document.requested.<tenant>` → `Pipeline.ingest`, one version each.

`python -m ingestion consume` runs it. A message names a tenant, a document and a version; the handler runs the
same step the API runs inline without JetStream, in a transaction bound to the message's tenant. It is idempotent:
a version already ready, superseded or deleted changes nothing. A file that does not parse is not an error here
(the version is marked failed); a message that keeps failing (bad data, a bug) goes to the DLQ after 5 deliveries,
an unparsable one at once (aiaas.events.ConsumerRunner).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from nats.js import JetStreamContext

from aiaas.events import ConsumerRunner, Received
from ingestion.documents.service import Pipeline
from ingestion.events import INGEST_CONSUMER

__all__ = ["CONSUMER_NAMES", "handle", "runner"]

log = logging.getLogger(__name__)

# Declared in aiaas.events.topology; the worker ensures them at start.
CONSUMER_NAMES: tuple[str, ...] = (INGEST_CONSUMER.durable,)


async def handle(pipeline: Pipeline, batch: Sequence[Received]) -> None:
    """Ingest the batch's versions concurrently, each in its own transactions: one document's parse and insert
    overlap another's embedding (the embedder runs one text at a time on its own thread). Every ingest ends before
    the first failure is raised; the runner then retries the batch one message at a time (ingest is idempotent)."""

    async def one(item: Received) -> None:
        data = item.event.data
        await pipeline.ingest(item.event.tenant_id, uuid.UUID(str(data["document_id"])), int(data["version"]))

    results = await asyncio.gather(*(one(item) for item in batch), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def runner(js: JetStreamContext, pipeline: Pipeline, *, batch_size: int) -> ConsumerRunner:
    async def handler(batch: Sequence[Received]) -> None:
        await handle(pipeline, batch)

    return ConsumerRunner(js, INGEST_CONSUMER, handler, batch_size=batch_size)
