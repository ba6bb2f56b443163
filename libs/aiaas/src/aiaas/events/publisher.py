"""JetStream publisher: deterministic `Nats-Msg-Id`, trace headers, awaits the stream's ack.

`publish` sends one event and waits for its ack; `publish_batch` sends many back to back and waits for
all their acks together (one round trip's wait for the lot), each still acked, or failed, on its own.
`publish_nowait` sends events the outbox already holds and waits for no ack: the relay publishes each anyway
(same `Nats-Msg-Id`, JetStream keeps one), so an ack would only say sooner what the relay will make true.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from aiaas.events.envelope import EventEnvelope
from aiaas.observability.metrics import EVENTS_PUBLISHED
from aiaas.observability.tracing import extract_trace_context, inject_trace_headers

__all__ = ["EventPublisher", "NATS_UNAVAILABLE", "PendingEvent"]

# Everything NATS raises while the server is down, restarting or JetStream is recovering.
NATS_UNAVAILABLE: tuple[type[BaseException], ...] = (nats.errors.Error, OSError)

_tracer = trace.get_tracer("aiaas.events")


@dataclass(frozen=True)
class PendingEvent:
    """An event waiting to be published, with the trace context it was emitted in."""

    event: EventEnvelope
    context: otel_context.Context
    # The event's JSON when the caller already has it (the write-ahead log serialized it): not done twice.
    payload: bytes | None = None


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

    async def publish_batch(self, pending: Sequence[PendingEvent]) -> list[BaseException | None]:
        """Publish every event, then await all acks together (up to the timeout).

        Returns, per event, None once JetStream acked it, else the error (NATS down, timeout, no stream).
        Each event gets its own producer span, a child of the context it was emitted in.
        """
        spans = [self._start_span(item.event, item.event.subject, item.context) for item in pending]
        errors: list[BaseException | None] = [None] * len(pending)
        acks: list[asyncio.Future[PubAck] | None] = []
        for i, (item, span) in enumerate(zip(pending, spans, strict=True)):
            headers = {"Nats-Msg-Id": str(item.event.id)}
            propagate.inject(headers, context=trace.set_span_in_context(span))
            try:
                payload = item.payload if item.payload is not None else item.event.to_json()
                acks.append(await self._js.publish_async(item.event.subject, payload, headers=headers))
            except NATS_UNAVAILABLE as exc:
                errors[i] = exc
                acks.append(None)
        waiting = [ack for ack in acks if ack is not None]
        published: Counter[tuple[str, str]] = Counter()
        if waiting:
            await asyncio.wait(waiting, timeout=self._timeout_s)
        for i, (item, span, ack) in enumerate(zip(pending, spans, acks, strict=True)):
            if ack is not None:
                if not ack.done():
                    ack.cancel()
                    errors[i] = nats.errors.TimeoutError()
                elif ack.exception() is not None:
                    errors[i] = ack.exception()
                else:
                    result = ack.result()
                    if result.duplicate:
                        span.set_attribute("messaging.nats.duplicate", True)
                    published[(result.stream, item.event.type)] += 1
            if (error := errors[i]) is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()
        for (stream, event_type), count in published.items():
            EVENTS_PUBLISHED.labels(stream=stream, type=event_type).inc(count)
        return errors

    async def publish_nowait(self, pending: Sequence[PendingEvent]) -> list[BaseException | None]:
        """Send every event to its subject (a stream's) with its `Nats-Msg-Id`, no ack awaited: only for events
        committed to the outbox. Returns, per event, the error of sending it (NATS down), else None."""
        nc = self._js._nc  # noqa: SLF001 - the JetStream context's connection: a plain publish, no ack inbox
        errors: list[BaseException | None] = [None] * len(pending)
        for i, item in enumerate(pending):
            span = self._start_span(item.event, item.event.subject, item.context)
            headers = {"Nats-Msg-Id": str(item.event.id)}
            propagate.inject(headers, context=trace.set_span_in_context(span))
            try:
                payload = item.payload if item.payload is not None else item.event.to_json()
                await nc.publish(item.event.subject, payload, headers=headers)
            except NATS_UNAVAILABLE as exc:
                errors[i] = exc
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
        return errors

    @staticmethod
    def _start_span(event: EventEnvelope, subject: str, context: otel_context.Context) -> trace.Span:
        # Parent: the span the event was emitted under, else the context captured in the envelope.
        if not trace.get_current_span(context).get_span_context().is_valid:
            context = extract_trace_context(event.trace)
        return _tracer.start_span(
            f"publish {event.type}",
            context=context,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": subject,
                "messaging.message.id": str(event.id),
            },
        )

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
