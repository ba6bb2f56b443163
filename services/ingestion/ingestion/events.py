"""The pipeline's one event, `ingest.document.requested.<tenant>`, on the INGEST work-queue stream.

The stream and the durable consumer `ingestion-documents` are declared with the platform's others in
`aiaas.events.topology` (WORK_QUEUE retention: a message is gone once acked; 7 days; ack wait 120 s for a large PDF's
embedding; at most 64 unacked; after 5 deliveries the runner moves a message to `dlq.INGEST.ingestion-documents`).
Its pending count is the lag KEDA reads (`/jsz?consumers=true`, `num_pending` + `num_ack_pending`). The event id is
the Nats-Msg-Id, the same for the same version: JetStream drops a repeat within the duplicate window.
"""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext

from aiaas.events import EventEnvelope, EventPublisher, event_id
from aiaas.events.schemas import INGEST_DOCUMENT_REQUESTED
from aiaas.events.topology import CONSUMERS, STREAMS, ensure_topology

__all__ = [
    "DOCUMENT_REQUESTED",
    "INGEST_STREAM",
    "INGEST_CONSUMER",
    "ensure_ingest_topology",
    "document_requested",
    "publish_requested",
]

DOCUMENT_REQUESTED = INGEST_DOCUMENT_REQUESTED
INGEST_STREAM = STREAMS["INGEST"]
INGEST_CONSUMER = CONSUMERS["ingestion-documents"]


async def ensure_ingest_topology(js: JetStreamContext) -> None:
    """The platform's streams and the ingestion consumer, created or updated (idempotent)."""
    await ensure_topology(js, consumers=(INGEST_CONSUMER.durable,))


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
