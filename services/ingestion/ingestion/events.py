"""The pipeline's JetStream topology and its one event, `ingest.document.requested.<tenant>`.

The stream and its consumer belong in `aiaas.events.topology` (STREAMS, CONSUMERS), which also needs a retention
field on StreamSpec for a work-queue stream; until the platform declares them there, they are declared here and
ensured by the API and the consumer at start (idempotent: add, or update to this config).

- Stream INGEST, subjects `ingest.document.requested.>`, WORK_QUEUE retention (a message is gone once acked), file
  storage, 7 days, a 2 h duplicate window (the event id is the Nats-Msg-Id: a version is requested once).
- Durable pull consumer `ingestion-documents`: explicit acks, ack wait 120 s (a large PDF's embedding), at most
  64 unacked; after 5 deliveries the runner moves a message to the DLQ (`dlq.INGEST.ingestion-documents`).
  Its pending count is the lag KEDA reads (`/jsz?consumers=true`, `num_pending` + `num_ack_pending`).
"""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from aiaas.events import EventEnvelope, EventPublisher, event_id
from aiaas.events.topology import ConsumerSpec, StreamSpec, ensure_consumer

__all__ = [
    "DOCUMENT_REQUESTED",
    "INGEST_STREAM",
    "INGEST_CONSUMER",
    "ensure_ingest_topology",
    "document_requested",
    "publish_requested",
]

DOCUMENT_REQUESTED = "ingest.document.requested"
INGEST_STREAM = StreamSpec("INGEST", (f"{DOCUMENT_REQUESTED}.>",), max_age_s=7 * 24 * 3600.0)
INGEST_CONSUMER = ConsumerSpec(
    "INGEST", "ingestion-documents", f"{DOCUMENT_REQUESTED}.>", ack_wait_s=120.0, max_ack_pending=64, max_deliveries=5
)


async def ensure_ingest_topology(js: JetStreamContext) -> None:
    """The INGEST work-queue stream and its durable consumer, created or updated."""
    config = StreamConfig(
        name=INGEST_STREAM.name,
        subjects=list(INGEST_STREAM.subjects),
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=INGEST_STREAM.max_age_s,
        duplicate_window=INGEST_STREAM.duplicate_window_s,
    )
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
    await ensure_consumer(js, INGEST_CONSUMER)


def document_requested(tenant_id: uuid.UUID, document_id: uuid.UUID, version: int) -> EventEnvelope:
    """The request to ingest one version; its id is the same for the same version (JetStream drops a repeat)."""
    return EventEnvelope(
        id=event_id(DOCUMENT_REQUESTED, str(document_id), str(version)),
        type=DOCUMENT_REQUESTED,
        tenant_id=tenant_id,
        data={"document_id": str(document_id), "version": version},
    )


async def publish_requested(
    publisher: EventPublisher, tenant_id: uuid.UUID, document_id: uuid.UUID, version: int
) -> None:
    await publisher.publish(document_requested(tenant_id, document_id, version))
