"""The pipeline's JetStream consumer: `ingest.document.requested.<tenant>` → `Pipeline.ingest`, one version each.

`python -m ingestion consume` runs it. A message names a tenant, a document and a version; the handler runs the
same step the API runs inline without JetStream, in a transaction bound to the message's tenant. It is idempotent:
a version already ready, superseded or deleted changes nothing. A file that does not parse is not an error here
(the version is marked failed); a message that keeps failing (bad data, a bug) goes to the DLQ after 5 deliveries,
an unparsable one at once (aiaas.events.ConsumerRunner).
"""

from __future__ import annotations

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
    """Ingest each message's version in turn (a batch is a handful: each one embeds)."""
    for item in batch:
        data = item.event.data
        await pipeline.ingest(item.event.tenant_id, uuid.UUID(str(data["document_id"])), int(data["version"]))


def runner(js: JetStreamContext, pipeline: Pipeline, *, batch_size: int) -> ConsumerRunner:
    async def handler(batch: Sequence[Received]) -> None:
        await handle(pipeline, batch)

    return ConsumerRunner(js, INGEST_CONSUMER, handler, batch_size=batch_size)
