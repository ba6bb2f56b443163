"""Streams and durable consumers, declared in one place and created idempotently at start."""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

__all__ = [
    "StreamSpec",
    "ConsumerSpec",
    "STREAMS",
    "CONSUMERS",
    "ensure_topology",
    "ensure_consumer",
    "dlq_subject",
]

_HOUR = 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float = 30 * 24 * _HOUR
    # Long enough to swallow a publish retried after a NATS restart or an outbox relay.
    duplicate_window_s: float = 2 * _HOUR
    # LIMITS: facts every consumer reads (kept until max_age). WORK_QUEUE: jobs, each gone once its one consumer acks.
    retention: RetentionPolicy = RetentionPolicy.LIMITS


@dataclass(frozen=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subject: str
    ack_wait_s: float = 30.0
    max_ack_pending: int = 20_000
    # After this many deliveries the runner moves the message to the DLQ stream.
    max_deliveries: int = 5
    extra: dict[str, str] = field(default_factory=dict)


STREAMS: dict[str, StreamSpec] = {
    "USAGE": StreamSpec("USAGE", ("usage.>",)),
    # Billing's own facts (usage metered, quota thresholds, invoices finalized, plan changes).
    "BILLING": StreamSpec("BILLING", ("billing.>",)),
    # The router's facts: its decisions (router.decision.made) and canary outcomes (router.canary.*).
    "ROUTER": StreamSpec("ROUTER", ("router.>",)),
    # Ingestion jobs (issue 15): one message per document version to parse, chunk and embed; a work queue.
    "INGEST": StreamSpec(
        "INGEST", ("ingest.document.requested.>",), max_age_s=7 * 24 * _HOUR, retention=RetentionPolicy.WORK_QUEUE
    ),
    # The orchestrator's work: one message per start/resume/cancel/expiry of a run, gone once acked.
    "ORCH": StreamSpec(
        "ORCH", ("orch.run.requested.>",), max_age_s=7 * 24 * _HOUR, retention=RetentionPolicy.WORK_QUEUE
    ),
    # What runs did: lifecycle, the write-ahead tool-call ledger's events, the saga's compensations.
    "ORCH_EVENTS": StreamSpec(
        "ORCH_EVENTS", ("orch.run.interrupted.>", "orch.run.completed.>", "tool.call.>", "saga.>")
    ),
    "KB": StreamSpec("KB", ("kb.>",)),
    "DLQ": StreamSpec("DLQ", ("dlq.>",), max_age_s=90 * 24 * _HOUR),
}

CONSUMERS: dict[str, ConsumerSpec] = {
    # The gateway's usage writer: usage events -> `requests` rows.
    "usage-writer": ConsumerSpec("USAGE", "usage-writer", "usage.recorded.>"),
    # Billing's meter: usage events -> usage ledger and counters, credits, quota state in Redis.
    "billing-meter": ConsumerSpec("USAGE", "billing-meter", "usage.recorded.>"),
    # Billing's Stripe sync: metered usage and finalized invoices -> Stripe (idempotent writes).
    "billing-stripe-sync": ConsumerSpec("BILLING", "billing-stripe-sync", "billing.>"),
    # Analytics read models (CQRS): usage events -> per-tenant rollups.
    "analytics-usage": ConsumerSpec("USAGE", "analytics-usage", "usage.recorded.>"),
    # Analytics read models fed by billing events (invoices, thresholds).
    "analytics-billing": ConsumerSpec("BILLING", "analytics-billing", "billing.>"),
    # The router's consumer: decisions -> router_decisions (and the rewards that waited for them).
    "router-decisions": ConsumerSpec("ROUTER", "router-decisions", "router.decision.made.>"),
    # The router's consumer: usage errors of routed requests -> rewards (the bandit's state).
    "router-rewards": ConsumerSpec("USAGE", "router-rewards", "usage.recorded.>"),
    # Ingestion's pipeline: a document version -> chunks in kb_chunks (ack wait: a large PDF's embedding).
    "ingestion-documents": ConsumerSpec(
        "INGEST", "ingestion-documents", "ingest.document.requested.>", ack_wait_s=120.0, max_ack_pending=64
    ),
    # A worker acks a run at a terminal or interrupted state and sends in-progress acks until then.
    "orchestrator-runs": ConsumerSpec(
        "ORCH", "orchestrator-runs", "orch.run.requested.>", ack_wait_s=60.0, max_ack_pending=256
    ),
}


def dlq_subject(spec: ConsumerSpec) -> str:
    return f"dlq.{spec.stream}.{spec.durable}"


async def _ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    config = StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=spec.retention,
        storage=StorageType.FILE,
        max_age=spec.max_age_s,
        duplicate_window=spec.duplicate_window_s,
    )
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    config = ConsumerConfig(
        durable_name=spec.durable,
        filter_subject=spec.filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=spec.ack_wait_s,
        max_ack_pending=spec.max_ack_pending,
        # The runner dead-letters by itself; the server must keep redelivering until then.
        max_deliver=-1,
    )
    await js.add_consumer(spec.stream, config)


async def ensure_topology(js: JetStreamContext, consumers: tuple[str, ...] | None = None) -> None:
    """Create or update every stream, then the named durable consumers (all by default)."""
    for stream in STREAMS.values():
        await _ensure_stream(js, stream)
    for name, spec in CONSUMERS.items():
        if consumers is None or name in consumers:
            await ensure_consumer(js, spec)
