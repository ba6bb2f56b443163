"""The ingestion service's events.

- `ingest.document.requested.<tenant>` on the INGEST work-queue stream: the pipeline's work. The stream and the
  durable consumer `ingestion-documents` are declared with the platform's others in `aiaas.events.topology`
  (WORK_QUEUE retention: a message is gone once acked; 7 days; ack wait 120 s for a large PDF's embedding; at most
  64 unacked; after 5 deliveries the runner moves a message to `dlq.INGEST.ingestion-documents`). Its pending count
  is the lag KEDA reads (`/jsz?consumers=true`, `num_pending` + `num_ack_pending`). The event id is the
  Nats-Msg-Id, the same for the same version: JetStream drops a repeat within the duplicate window.
- `kb.document.deleted.<tenant>` (stream KB): written to the outbox in the delete's own transaction.
- `usage.recorded.<tenant>` (stream USAGE): the embedding tokens one ingest spent, written to the outbox in the
  transaction that stores the version's chunks; billing meters it like a gateway request (alias
  `embedding:all-MiniLM-L6-v2`, cost 0 at the gateway's prices, request id `ingest:<document>:<version>`).

Outbox rows are published by the platform's outbox relay; their ids are deterministic, so a version is metered
once and a document's deletion announced once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from nats.js import JetStreamContext

from aiaas.events import EventEnvelope, EventPublisher, event_id
from aiaas.events.orchestration import KB_DOCUMENT_DELETED, KbDocumentDeleted
from aiaas.events.schemas import INGEST_DOCUMENT_REQUESTED, USAGE_RECORDED, UsageRecorded
from aiaas.events.topology import CONSUMERS, STREAMS, ensure_topology

__all__ = [
    "DOCUMENT_REQUESTED",
    "INGEST_STREAM",
    "INGEST_CONSUMER",
    "ensure_ingest_topology",
    "document_requested",
    "publish_requested",
    "document_deleted",
    "embedding_usage",
    "usage_request_id",
]

DOCUMENT_REQUESTED = INGEST_DOCUMENT_REQUESTED
INGEST_STREAM = STREAMS["INGEST"]
INGEST_CONSUMER = CONSUMERS["ingestion-documents"]
# The key of usage events of a document uploaded before uploads recorded their key.
_NO_KEY = uuid.UUID(int=0)


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


def document_deleted(
    tenant_id: uuid.UUID, document_id: uuid.UUID, *, filename: str, version: int, chunks_deleted: int
) -> EventEnvelope:
    data = KbDocumentDeleted(document_id=document_id, filename=filename, version=version, chunks_deleted=chunks_deleted)
    return EventEnvelope(
        id=event_id(KB_DOCUMENT_DELETED, str(document_id), str(version)),
        type=KB_DOCUMENT_DELETED,
        tenant_id=tenant_id,
        data=data.model_dump(mode="json"),
    )


def usage_request_id(document_id: uuid.UUID, version: int) -> str:
    return f"ingest:{document_id}:{version}"


def embedding_usage(
    tenant_id: uuid.UUID,
    api_key_id: uuid.UUID | None,
    document_id: uuid.UUID,
    version: int,
    *,
    model_alias: str,
    model_id: str,
    tokens: int,
    started_at: datetime,
    completed_at: datetime,
) -> EventEnvelope:
    """The embedding tokens of one version's ingest as a usage event (id: the same for the same version)."""
    request_id = usage_request_id(document_id, version)
    usage = UsageRecorded(
        request_id=request_id,
        api_key_id=api_key_id or _NO_KEY,
        model_alias=model_alias,
        provider="ingestion",
        deployment=None,
        upstream_model=model_id,
        stream=False,
        status="success",
        http_status=None,
        error_code=None,
        tokens_in=tokens,
        tokens_out=0,
        cost_usd=Decimal(0),
        latency_ms=max((completed_at - started_at).total_seconds() * 1000, 0.0),
        ttft_ms=None,
        attempts=1,
        started_at=started_at,
        completed_at=completed_at,
    )
    return EventEnvelope(
        id=event_id(USAGE_RECORDED, request_id),
        type=USAGE_RECORDED,
        tenant_id=tenant_id,
        occurred_at=completed_at,
        data=usage.model_dump(mode="json"),
    )
