"""`DurableEmitter.emit_soon`: batched publishes, the outbox fallback, the write-ahead log and `drain`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import DurableEmitter, EventEnvelope, EventPublisher, event_id
from aiaas.events.topology import ensure_topology
from aiaas.events.wal import WriteAheadLog
from aiaas_testing import NatsServer
from aiaas_testing.plugin import MakeTenant


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.url)
    await ensure_topology(client.jetstream(), consumers=())
    yield client
    await client.close()


def _events(tenant_id: uuid.UUID, count: int) -> list[EventEnvelope]:
    run = uuid.uuid4().hex
    return [
        EventEnvelope(
            id=event_id("usage.recorded", f"{run}-{i}"), type="usage.recorded", tenant_id=tenant_id, data={"i": i}
        )
        for i in range(count)
    ]


async def _stream_count(nc: NatsClient, tenant_id: uuid.UUID) -> int:
    info = await nc.jetstream().stream_info("USAGE", subjects_filter=f"usage.recorded.{tenant_id}")
    return sum((info.state.subjects or {}).values())


async def _outbox_count(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> int:
    async with tenant_session(sessions, tenant_id) as session:
        count: int = (await session.execute(text("select count(*) from event_outbox"))).scalar_one()
    return count


async def test_lingering_events_are_published_together_once_each(
    nc: NatsClient, runtime_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    tenant_id = uuid.uuid4()
    wal = WriteAheadLog(tmp_path / "wal", "emitter-test")
    emitter = DurableEmitter(EventPublisher(nc.jetstream()), runtime_sessions, linger_s=0.05, wal=wal)
    futures = [emitter.emit_soon(event) for event in _events(tenant_id, 20)]
    assert emitter.in_flight == 20
    assert await asyncio.wait_for(asyncio.gather(*futures), 5.0) == ["jetstream"] * 20
    assert emitter.in_flight == 0 and await _stream_count(nc, tenant_id) == 20
    wal.close(remove=True)
    assert not wal.path.exists()  # every event was marked done: nothing left to replay


async def test_while_nats_is_down_events_go_to_their_tenants_outbox(
    nc: NatsClient,
    runtime_sessions: async_sessionmaker[AsyncSession],
    make_tenant: MakeTenant,
) -> None:
    tenants = [await make_tenant(), await make_tenant()]
    emitter = DurableEmitter(EventPublisher(nc.jetstream()), runtime_sessions, is_connected=lambda: False)
    events = [event for tenant in tenants for event in _events(tenant.id, 3)]
    outcomes = await asyncio.wait_for(asyncio.gather(*(emitter.emit_soon(e) for e in events)), 5.0)
    assert outcomes == ["outbox"] * 6
    assert [await _outbox_count(runtime_sessions, tenant.id) for tenant in tenants] == [3, 3]


async def test_drain_sends_what_still_lingers(
    nc: NatsClient, runtime_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant_id = uuid.uuid4()
    emitter = DurableEmitter(EventPublisher(nc.jetstream()), runtime_sessions, linger_s=60.0)
    futures = [emitter.emit_soon(event) for event in _events(tenant_id, 5)]
    await asyncio.sleep(0.01)
    assert not any(f.done() for f in futures)
    await asyncio.wait_for(emitter.drain(), 5.0)
    assert all(f.result() == "jetstream" for f in futures)
    assert emitter.in_flight == 0 and await _stream_count(nc, tenant_id) == 5
