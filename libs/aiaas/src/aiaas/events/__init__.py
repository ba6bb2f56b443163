"""Event contracts and their transport: envelope, topology, publisher, consumer, outbox."""

from aiaas.events.consumer import ConsumerRunner, Received
from aiaas.events.emitter import DurableEmitter
from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.outbox import OutboxRelay, write_outbox
from aiaas.events.publisher import EventPublisher
from aiaas.events.topology import CONSUMERS, STREAMS, ensure_topology

__all__ = [
    "CONSUMERS",
    "STREAMS",
    "ConsumerRunner",
    "DurableEmitter",
    "EventEnvelope",
    "EventPublisher",
    "OutboxRelay",
    "Received",
    "ensure_topology",
    "event_id",
    "write_outbox",
]
