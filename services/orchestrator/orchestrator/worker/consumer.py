"""The worker's durable pull consumer `orchestrator-runs` on ORCH: up to `max_inflight` runs at once.

Unlike aiaas.events.ConsumerRunner (a batch handled, then acked together), a run lasts seconds to minutes and each
message is answered on its own: the loop fetches as many messages as there are free slots, each runs in a task that
sends in-progress acks every `heartbeat_s` (and whenever the engine reports a step) until it acks (terminal or
interrupted), naks with a delay (leased elsewhere, or an error: backoff), or dead-letters it (an unparsable message
at once, a run that failed `max_deliveries` times after marking it failed). A crash acks nothing: JetStream
redelivers after ack_wait (60 s) and the engine resumes from the checkpoint. In-flight runs never exceed the
checkpoint pool's size (one connection per run).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from pydantic import ValidationError

from aiaas.events import EventEnvelope, EventPublisher
from aiaas.events.consumer import dead_letter
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested
from aiaas.events.publisher import NATS_UNAVAILABLE
from aiaas.events.topology import CONSUMERS, ConsumerSpec
from aiaas.observability.metrics import CONSUMER_PENDING as PLATFORM_CONSUMER_PENDING
from aiaas.observability.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED
from orchestrator.worker.metrics import CONSUMER_PENDING, DELIVERY_SECONDS, RUNS_IN_FLIGHT, RUNS_REDELIVERED
from orchestrator.worker.runs import Disposition, RunProcessor

__all__ = ["RUNS_CONSUMER", "RunConsumer"]

log = logging.getLogger(__name__)

RUNS_CONSUMER: ConsumerSpec = CONSUMERS["orchestrator-runs"]
_PENDING_EVERY_S = 2.0
# The engine's heartbeats between steps send an in-progress ack at most this often.
_MIN_PROGRESS_GAP_S = 1.0


class RunConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        processor: RunProcessor,
        *,
        max_inflight: int,
        heartbeat_s: float,
        drain_s: float,
        max_deliveries: int,
        error_retry_base_s: float,
        error_retry_cap_s: float,
        fetch_timeout_s: float = 1.0,
        spec: ConsumerSpec = RUNS_CONSUMER,
    ) -> None:
        self._js = js
        self._processor = processor
        self._max_inflight = max_inflight
        self._heartbeat_s = heartbeat_s
        self._drain_s = drain_s
        self._max_deliveries = max_deliveries
        self._retry_base_s = error_retry_base_s
        self._retry_cap_s = error_retry_cap_s
        self._fetch_timeout_s = fetch_timeout_s
        self._spec = spec
        self._dlq = EventPublisher(js)
        self._labels = {"stream": spec.stream, "consumer": spec.durable}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop`; then give the runs in flight `drain_s` to finish (the rest are redelivered)."""
        sub = None
        last_report = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - last_report > _PENDING_EVERY_S:
                    last_report = time.monotonic()
                    await self._report_pending()
                free = self._max_inflight - len(self._tasks)
                if free <= 0:
                    await asyncio.wait(self._tasks, timeout=self._fetch_timeout_s, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    if sub is None:
                        sub = await self._js.pull_subscribe_bind(durable=self._spec.durable, stream=self._spec.stream)
                    msgs = await sub.fetch(free, timeout=self._fetch_timeout_s)
                except (NatsTimeoutError, TimeoutError):
                    continue  # nothing to do now (nats-py raises the builtin TimeoutError for an empty fetch)
                except NATS_UNAVAILABLE as exc:
                    log.warning("fetch failed, retrying", extra={"error": repr(exc), **self._labels})
                    sub = None
                    await _sleep_unless(stop, 0.5)
                    continue
                for msg in msgs:
                    task = asyncio.create_task(self._deliver(msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            await self._drain()

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("waiting for runs in flight", extra={"runs": len(self._tasks), **self._labels})
        _done, pending = await asyncio.wait(set(self._tasks), timeout=self._drain_s)
        for task in pending:
            task.cancel()  # not acked: redelivered after ack_wait, resumed from its checkpoint
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    async def _deliver(self, msg: Msg) -> None:
        RUNS_IN_FLIGHT.inc()
        started = time.perf_counter()
        try:
            await self._deliver_one(msg)
            DELIVERY_SECONDS.labels(phase="total").observe(time.perf_counter() - started)
        except NATS_UNAVAILABLE as exc:
            # The answer did not reach NATS: the message comes back after ack_wait and is skipped or resumed.
            log.warning("run message not answered (NATS)", extra={"error": repr(exc), **self._labels})
        finally:
            RUNS_IN_FLIGHT.dec()

    async def _deliver_one(self, msg: Msg) -> None:
        try:
            event = EventEnvelope.from_json(msg.data)
            if event.type != ORCH_RUN_REQUESTED:
                raise ValueError(f"event type {event.type!r} is not {ORCH_RUN_REQUESTED}")
            request = OrchRunRequested.model_validate(event.data)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(msg, f"unparsable run request: {exc}")
            return
        deliveries = msg.metadata.num_delivered
        if deliveries > 1:
            RUNS_REDELIVERED.inc()
        beat = _Heartbeat(msg)
        ticker = asyncio.create_task(_tick(beat, self._heartbeat_s))
        try:
            disposition = await self._processor.process(event, request, beat)
        except Exception as exc:  # noqa: BLE001 - a bug or an outage: retried with backoff, dead-lettered at the limit
            log.exception("run delivery failed", extra={"run_id": str(request.run_id), "deliveries": deliveries})
            disposition = await self._after_error(event, request, deliveries, exc)
        finally:
            ticker.cancel()
        await self._answer(msg, disposition)

    async def _after_error(
        self, event: EventEnvelope, request: OrchRunRequested, deliveries: int, exc: Exception
    ) -> Disposition:
        if deliveries < self._max_deliveries:
            delay = min(self._retry_cap_s, self._retry_base_s * 2 ** (deliveries - 1))
            return Disposition("nak", delay_s=delay, reason=repr(exc))
        try:
            await self._processor.give_up(event, request, repr(exc))
        except Exception:  # noqa: BLE001 - the DLQ keeps the message either way
            log.exception("run not marked failed", extra={"run_id": str(request.run_id)})
        return Disposition("dead_letter", reason=repr(exc))

    async def _answer(self, msg: Msg, disposition: Disposition) -> None:
        if disposition.action == "ack":
            await msg.ack()
            EVENTS_CONSUMED.labels(**self._labels).inc()
        elif disposition.action == "nak":
            await msg.nak(delay=disposition.delay_s)
        else:
            await self._dead_letter(msg, disposition.reason)

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        await dead_letter(self._dlq, self._spec, msg, error)
        EVENTS_DEAD_LETTERED.labels(**self._labels).inc()
        log.error("run request dead-lettered", extra={"error": error[:500], "seq": msg.metadata.sequence.stream})

    async def _report_pending(self) -> None:
        try:
            info = await self._js.consumer_info(self._spec.stream, self._spec.durable)
        except NATS_UNAVAILABLE:
            return
        lag = (info.num_pending or 0) + (info.num_ack_pending or 0)
        CONSUMER_PENDING.set(lag)
        PLATFORM_CONSUMER_PENDING.labels(**self._labels).set(lag)


class _Heartbeat:
    """`msg.in_progress()`, at most once a second; a NATS outage is logged (the run goes on)."""

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self._last = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self._last < _MIN_PROGRESS_GAP_S:
            return
        self._last = time.monotonic()
        try:
            await self._msg.in_progress()
        except NATS_UNAVAILABLE as exc:
            log.warning("in-progress ack failed", extra={"error": repr(exc)})


async def _tick(beat: Callable[[], Awaitable[None]], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await beat()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return
