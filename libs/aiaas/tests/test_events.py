"""Publisher, consumer runner, DLQ + replay, outbox relay — on a private NATS and the real Postgres."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from opentelemetry import context as otel_context
from prometheus_client import REGISTRY
from sqlalchemy import text

from aiaas.db import tenant_session
from aiaas.events import ConsumerRunner, DurableEmitter, EventEnvelope, EventPublisher, OutboxRelay, event_id
from aiaas.events.dlq_cli import list_dead_letters, replay
from aiaas.events.publisher import PendingEvent
from aiaas.events.topology import ConsumerSpec, ensure_consumer, ensure_topology
from aiaas_testing import NatsServer


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
async def js(nats_server):
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_topology(js, consumers=())
    yield js
    await nc.close()


def _event(tenant_id: uuid.UUID, key: str, **data) -> EventEnvelope:
    return EventEnvelope(
        id=event_id("usage.recorded", key),
        type="usage.recorded",
        tenant_id=tenant_id,
        data={"key": key, **data},
    )


async def _count(js, subject: str) -> int:
    info = await js.stream_info("USAGE", subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_publish_is_acked_and_deduplicated_by_event_id(js):
    tenant = uuid.uuid4()
    event = _event(tenant, "r1")
    first = await EventPublisher(js).publish(event)
    second = await EventPublisher(js).publish(event)
    assert first == second
    assert await _count(js, event.subject) == 1


async def test_publish_nowait_lands_in_the_stream_once_per_event_id(js):
    """No ack awaited, yet the stream stores it, and the outbox relay's later copy (same id) is dropped."""
    tenant = uuid.uuid4()
    events = [_event(tenant, "n1"), _event(tenant, "n2")]
    publisher = EventPublisher(js)
    context = otel_context.get_current()
    assert await publisher.publish_nowait([PendingEvent(e, context) for e in events]) == [None, None]
    assert await publisher.publish_nowait([PendingEvent(events[0], context)]) == [None]
    await js._nc.flush()
    assert await publisher.publish(events[0]) == await publisher.publish(events[0])  # the relay's copy: a duplicate
    assert await _count(js, events[0].subject) == 2


async def test_topology_is_idempotent(js):
    await ensure_topology(js)
    await ensure_topology(js)
    names = {s.config.name async for s in _streams(js)}
    assert {"USAGE", "DLQ"} <= names


async def _streams(js):
    for info in await js.streams_info():
        yield info


async def test_consumer_acks_after_handler_and_redelivers_failures(js):
    tenant = uuid.uuid4()
    spec = ConsumerSpec("USAGE", "t-redeliver", f"usage.recorded.{tenant}", ack_wait_s=2, max_deliveries=5)
    await ensure_consumer(js, spec)
    for i in range(5):
        await EventPublisher(js).publish(_event(tenant, f"k{i}"))
    stored: list[str] = []
    failed_once: set[str] = set()

    async def handler(batch):
        for item in batch:
            key = item.event.data["key"]
            if key == "k2" and key not in failed_once:
                failed_once.add(key)
                raise RuntimeError("transient")
        stored.extend(item.event.data["key"] for item in batch)

    runner = ConsumerRunner(js, spec, handler, nak_delay_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    for _ in range(100):
        if sorted(set(stored)) == [f"k{i}" for i in range(5)]:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert sorted(set(stored)) == [f"k{i}" for i in range(5)]
    info = await js.consumer_info("USAGE", spec.durable)
    assert info.num_pending == 0 and info.num_ack_pending == 0


async def test_poison_message_goes_to_dlq_after_n_deliveries_and_replays(js):
    tenant = uuid.uuid4()
    spec = ConsumerSpec("USAGE", "t-poison", f"usage.recorded.{tenant}", ack_wait_s=2, max_deliveries=3)
    await ensure_consumer(js, spec)
    await EventPublisher(js).publish(_event(tenant, "good"))
    await EventPublisher(js).publish(_event(tenant, "poison"))
    healed = False
    stored: list[str] = []
    attempts = {"poison": 0}

    async def handler(batch):
        for item in batch:
            if item.event.data["key"] == "poison" and not healed:
                attempts["poison"] += 1
                raise ValueError("cannot store this one")
        stored.extend(item.event.data["key"] for item in batch)

    before = REGISTRY.get_sample_value("events_dead_lettered_total", {"stream": "USAGE", "consumer": "t-poison"}) or 0
    stop = asyncio.Event()
    task = asyncio.create_task(ConsumerRunner(js, spec, handler, nak_delay_s=0.05).run(stop))
    dead: list[dict] = []
    for _ in range(200):
        dead = [d for d in await list_dead_letters(js) if d["original_subject"] == f"usage.recorded.{tenant}"]
        if dead:
            break
        await asyncio.sleep(0.05)
    assert len(dead) == 1
    assert dead[0]["deliveries"] == "3"
    assert "cannot store this one" in dead[0]["error"]
    assert stored.count("good") == 1 and "poison" not in stored
    after = REGISTRY.get_sample_value("events_dead_lettered_total", {"stream": "USAGE", "consumer": "t-poison"})
    assert after == before + 1

    healed = True
    assert await replay(js, [dead[0]["seq"]]) == 1
    for _ in range(100):
        if "poison" in stored:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert stored.count("poison") == 1
    assert not [d for d in await list_dead_letters(js) if d["original_subject"] == f"usage.recorded.{tenant}"]


async def test_unparsable_message_is_dead_lettered(js):
    tenant = uuid.uuid4()
    spec = ConsumerSpec("USAGE", "t-garbage", f"usage.recorded.{tenant}")
    await ensure_consumer(js, spec)
    await js.publish(f"usage.recorded.{tenant}", b"{not an envelope", headers={"Nats-Msg-Id": uuid.uuid4().hex})
    sub = await js.pull_subscribe_bind(durable=spec.durable, stream="USAGE")
    msgs = await sub.fetch(1, timeout=2)

    async def handler(batch):
        raise AssertionError("must not be called for garbage")

    await ConsumerRunner(js, spec, handler).process(msgs)
    dead = [d for d in await list_dead_letters(js) if d["original_subject"] == f"usage.recorded.{tenant}"]
    assert len(dead) == 1 and "unparsable" in dead[0]["error"]


async def test_outbox_holds_events_while_nats_is_down_and_relay_publishes_once(
    nats_server, js, make_tenant, runtime_sessions, admin_sessions
):
    tenant = await make_tenant()
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    emitter = DurableEmitter(
        EventPublisher(nc.jetstream(), timeout_s=0.5), runtime_sessions, is_connected=lambda: nc.is_connected
    )
    nats_server.stop()
    for _ in range(50):
        if not nc.is_connected:
            break
        await asyncio.sleep(0.05)
    events = [_event(tenant.id, f"o{i}-{uuid.uuid4().hex}") for i in range(3)]
    assert [await emitter.emit(e) for e in events] == ["outbox"] * 3
    await emitter.emit(events[0])  # a retry of the same event adds no row

    async with tenant_session(runtime_sessions, tenant.id) as session:
        assert (
            await session.execute(text("select count(*) from event_outbox where published_at is null"))
        ).scalar_one() == 3

    nats_server.start()
    for _ in range(100):
        if nc.is_connected:
            break
        await asyncio.sleep(0.05)
    relay = OutboxRelay(admin_sessions, EventPublisher(nc.jetstream()))
    published = 0
    # The relay crosses tenants, oldest rows first: a long-lived dev database may hold other runs' backlog
    # ahead of ours, so go on until ours are out (bounded by time, not by a number of batches).
    deadline = asyncio.get_running_loop().time() + 120
    while asyncio.get_running_loop().time() < deadline:
        published += await relay.relay_once()
        async with tenant_session(runtime_sessions, tenant.id) as session:
            left = (
                await session.execute(text("select count(*) from event_outbox where published_at is null"))
            ).scalar_one()
        if left == 0:
            break
    assert published >= 3 and left == 0
    subject = f"usage.recorded.{tenant.id}"
    assert await _count(nc.jetstream(), subject) == 3

    # A relay that died after publishing but before marking republishes: the stream drops the copies.
    async with tenant_session(runtime_sessions, tenant.id) as session:
        await session.execute(text("update event_outbox set published_at = null"))
    while await relay.relay_once():
        pass
    assert await _count(nc.jetstream(), subject) == 3
    await nc.close()
