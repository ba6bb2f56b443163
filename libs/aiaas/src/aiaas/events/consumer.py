"""Durable pull-consumer runner: ack after the handler commits, dead-letter poison messages.

The handler receives a batch and must be idempotent by event id (a unique key in
the table it writes): a message is acked only after the handler returned, so a
crash between commit and ack redelivers an event the handler already stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import ValidationError

from aiaas.events.envelope import EventEnvelope
from aiaas.events.publisher import NATS_UNAVAILABLE, EventPublisher
from aiaas.events.topology import ConsumerSpec, dlq_subject
from aiaas.observability.metrics import CONSUMER_PENDING, EVENTS_CONSUMED, EVENTS_DEAD_LETTERED
from aiaas.observability.tracing import extract_trace_context

__all__ = ["Received", "BatchHandler", "ConsumerRunner", "dead_letter"]

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("aiaas.events")
_TRACEPARENT = frozenset({"traceparent", "Traceparent", "TRACEPARENT"})


@dataclass(frozen=True)
class Received:
    event: EventEnvelope
    msg: Msg

    @property
    def deliveries(self) -> int:
        return self.msg.metadata.num_delivered


BatchHandler = Callable[[Sequence[Received]], Awaitable[None]]


class ConsumerRunner:
    """Fetches batches from a durable consumer and hands them to `handler`."""

    def __init__(
        self,
        js: JetStreamContext,
        spec: ConsumerSpec,
        handler: BatchHandler,
        *,
        batch_size: int = 256,
        fetch_timeout_s: float = 1.0,
        nak_delay_s: float = 1.0,
    ) -> None:
        self._js = js
        self._spec = spec
        self._handler = handler
        self._batch_size = batch_size
        self._fetch_timeout_s = fetch_timeout_s
        self._nak_delay_s = nak_delay_s
        self._dlq = EventPublisher(js)
        self._labels = {"stream": spec.stream, "consumer": spec.durable}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; survives NATS restarts by resubscribing."""
        sub = None
        last_report = 0.0
        while not stop.is_set():
            now = asyncio.get_running_loop().time()
            if now - last_report > 2.0:
                last_report = now
                await self._report_pending()
            try:
                if sub is None:
                    sub = await self._js.pull_subscribe_bind(durable=self._spec.durable, stream=self._spec.stream)
                msgs = await sub.fetch(self._batch_size, timeout=self._fetch_timeout_s)
            except (NatsTimeoutError, TimeoutError):
                # Nothing to fetch right now. nats-py raises the builtin TimeoutError (an OSError) for an
                # empty fetch, so this must come before NATS_UNAVAILABLE or every idle moment costs a pause.
                continue
            except NATS_UNAVAILABLE as exc:
                log.warning("fetch failed, retrying", extra={"error": repr(exc), **self._labels})
                sub = None
                await _sleep_unless(stop, 0.5)
                continue
            try:
                await self.process(msgs)
            except NATS_UNAVAILABLE as exc:
                # Acks or DLQ moves failed: unacked messages come back after ack_wait.
                log.warning("processing interrupted by NATS", extra={"error": repr(exc), **self._labels})
                sub = None

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Handle one fetched batch: parse, dead-letter the unparsable, run the handler, ack."""
        good: list[Received] = []
        for msg in msgs:
            try:
                good.append(Received(EventEnvelope.from_json(msg.data), msg))
            except ValidationError as exc:
                # A message that cannot be parsed will never succeed: dead-letter it now.
                await self._dead_letter(msg, f"unparsable event: {exc.errors()[:3]}")
        if not good:
            return
        try:
            await self._handle_traced(good)
        except Exception as exc:  # noqa: BLE001 - isolate the poison message below, never drop it
            log.warning("batch failed, retrying one by one", extra={"error": repr(exc), **self._labels})
            for item in good:
                await self._handle_one(item)
            return
        for item in good:
            await item.msg.ack()
        EVENTS_CONSUMED.labels(**self._labels).inc(len(good))

    async def _handle_one(self, item: Received) -> None:
        try:
            await self._handle_traced([item])
        except Exception as exc:  # noqa: BLE001 - recorded in the DLQ with its error
            if item.deliveries >= self._spec.max_deliveries:
                await self._dead_letter(item.msg, repr(exc))
            else:
                await item.msg.nak(delay=self._nak_delay_s * item.deliveries)
            return
        await item.msg.ack()
        EVENTS_CONSUMED.labels(**self._labels).inc()

    async def _handle_traced(self, batch: Sequence[Received]) -> None:
        # One span for the batch, plus one consumer span per message that continues a sampled trace (its
        # producer's), so a traced request reaches its consumers. Messages without a sampled trace get no
        # root span of their own: a span per untraced event is most of a large batch's overhead.
        spans = [
            _tracer.start_span(
                f"process {self._spec.stream}",
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.consumer.group.name": self._spec.durable,
                    "messaging.batch.message_count": len(batch),
                },
            )
        ]
        for item in batch:
            headers = item.msg.headers
            if not headers or not _TRACEPARENT.intersection(headers):
                continue
            parent = extract_trace_context(headers)
            if not trace.get_current_span(parent).get_span_context().trace_flags.sampled:
                continue
            spans.append(
                _tracer.start_span(
                    f"process {item.event.type}",
                    context=parent,
                    kind=SpanKind.CONSUMER,
                    attributes={
                        "messaging.system": "nats",
                        "messaging.consumer.group.name": self._spec.durable,
                        "messaging.message.id": str(item.event.id),
                    },
                )
            )
        try:
            await self._handler(batch)
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, repr(exc)[:200]))
            raise
        finally:
            for span in spans:
                span.end()

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        await dead_letter(self._dlq, self._spec, msg, error)
        EVENTS_DEAD_LETTERED.labels(**self._labels).inc()
        log.error("event dead-lettered", extra={"error": error[:500], "seq": msg.metadata.sequence.stream})

    async def _report_pending(self) -> None:
        try:
            info = await self._js.consumer_info(self._spec.stream, self._spec.durable)
        except NATS_UNAVAILABLE:
            return
        CONSUMER_PENDING.labels(**self._labels).set((info.num_pending or 0) + (info.num_ack_pending or 0))


async def dead_letter(dlq: EventPublisher, spec: ConsumerSpec, msg: Msg, error: str) -> None:
    """Move `msg` to its consumer's DLQ subject (original subject, sequence, deliveries and error as headers), then ack.

    The DLQ copy's `Nats-Msg-Id` is the original's stream sequence: a dead-letter repeated after a crash is dropped.
    """
    meta = msg.metadata
    headers = {
        "Nats-Msg-Id": f"dlq-{meta.stream}-{meta.sequence.stream}",
        "Aiaas-Original-Subject": msg.subject,
        "Aiaas-Original-Seq": str(meta.sequence.stream),
        "Aiaas-Deliveries": str(meta.num_delivered),
        "Aiaas-Error": error[:2000],
    }
    await dlq.publish_raw(dlq_subject(spec), msg.data, headers)
    await msg.ack()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return
