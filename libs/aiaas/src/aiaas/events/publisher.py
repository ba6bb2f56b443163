"""JetStream publisher: deterministic `Nats-Msg-Id`, trace headers, awaits the stream's ack."""

from __future__ import annotations

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from aiaas.events.envelope import EventEnvelope
from aiaas.observability.metrics import EVENTS_PUBLISHED
from aiaas.observability.tracing import extract_trace_context, inject_trace_headers

__all__ = ["EventPublisher", "NATS_UNAVAILABLE"]

# Everything NATS raises while the server is down, restarting or JetStream is recovering.
NATS_UNAVAILABLE: tuple[type[BaseException], ...] = (nats.errors.Error, OSError)

_tracer = trace.get_tracer("aiaas.events")


class EventPublisher:
    """Publishes envelopes; `publish` returns only once JetStream has stored the event."""

    def __init__(self, js: JetStreamContext, *, timeout_s: float = 2.0) -> None:
        self._js = js
        self._timeout_s = timeout_s

    async def publish(self, event: EventEnvelope, *, subject: str | None = None) -> int:
        """Publish and await the ack; returns the stream sequence (a duplicate returns the original's)."""
        subject = subject or event.subject
        # Parent: the live span if there is one, else the context captured in the envelope
        # (an outbox relay publishing long after the request is gone).
        parent = None if trace.get_current_span().get_span_context().is_valid else extract_trace_context(event.trace)
        with _tracer.start_as_current_span(f"publish {event.type}", context=parent, kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.system", "nats")
            span.set_attribute("messaging.destination.name", subject)
            span.set_attribute("messaging.message.id", str(event.id))
            headers = inject_trace_headers({"Nats-Msg-Id": str(event.id)})
            ack = await self._js.publish(subject, event.to_json(), timeout=self._timeout_s, headers=headers)
            span.set_attribute("messaging.nats.duplicate", bool(ack.duplicate))
        EVENTS_PUBLISHED.labels(stream=ack.stream, type=event.type).inc()
        return ack.seq

    async def has_stream_for(self, subject: str) -> bool:
        """Does any stream take `subject`? (False means a publish can never succeed.)"""
        try:
            await self._js.find_stream_name_by_subject(subject)
        except NotFoundError:
            return False
        return True

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str]) -> int:
        """Publish bytes as they are (DLQ moves and replays); headers must carry Nats-Msg-Id."""
        ack = await self._js.publish(subject, payload, timeout=self._timeout_s, headers=headers)
        return ack.seq
