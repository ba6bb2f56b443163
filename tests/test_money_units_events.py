"""Usage events written before money fields named their unit are still consumed, with the same amounts.

Events already in JetStream (or a gateway's WAL or outbox) when 0011_money_units shipped carry `cost`
where new ones carry `cost_usd`. One event of each kind goes through a private NATS to the real usage
writer, billing meter and analytics consumer: each is stored once, under the new name, amount unchanged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import nats
import pytest
from sqlalchemy import text

from aiaas import clock
from aiaas.db import tenant_session
from aiaas.events import EventEnvelope, EventPublisher, ensure_topology, event_id
from aiaas.events.schemas import USAGE_RECORDED
from aiaas_testing import NatsServer

OLD_COST, NEW_COST = "0.0001234567", "0.0000000001"


@pytest.fixture
def private_nats(tmp_path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


def _usage(tenant, name: str, amount: str) -> EventEnvelope:
    request_id = f"money-{uuid.uuid4().hex}"
    now = clock.now()
    data = {
        "request_id": request_id,
        "api_key_id": str(tenant.key_id),
        "model_alias": "gpt-4o-mini",
        "provider": "openai",
        "deployment": "d",
        "upstream_model": "m",
        "stream": False,
        "status": "success",
        "http_status": 200,
        "error_code": None,
        "tokens_in": 10,
        "tokens_out": 5,
        name: amount,
        "latency_ms": 12.0,
        "ttft_ms": None,
        "attempts": 1,
        "started_at": (now - timedelta(seconds=1)).isoformat(),
        "completed_at": now.isoformat(),
    }
    return EventEnvelope(id=event_id(USAGE_RECORDED, request_id), type=USAGE_RECORDED, tenant_id=tenant.id, data=data)


async def test_old_and_new_cost_names_are_stored_as_the_same_dollars(
    platform_stack, private_nats, make_tenant, runtime_sessions
):
    stack = platform_stack(nats_url=private_nats.url)
    nc = await nats.connect(private_nats.url)
    try:
        await ensure_topology(nc.jetstream(), consumers=())
        stack.start("usage-writer", "gateway.usage_writer")
        stack.start("billing-meter", "billing.meter")
        stack.start("analytics-consumer", "analytics.consumer")
        tenant = await make_tenant()
        old, new = _usage(tenant, "cost", OLD_COST), _usage(tenant, "cost_usd", NEW_COST)
        publisher = EventPublisher(nc.jetstream())
        for event in (old, new):
            await publisher.publish(event, subject=f"{USAGE_RECORDED}.{tenant.id}")
    finally:
        await nc.close()

    async def stored() -> tuple[dict[str, Decimal], int, Decimal | None]:
        async with tenant_session(runtime_sessions, tenant.id) as session:
            rows = (await session.execute(text("select request_id, cost_usd from requests"))).all()
            ledger = (await session.execute(text("select count(*) from usage_ledger"))).scalar_one()
            rollup = (
                await session.execute(
                    text("select sum(cost_usd) from analytics_usage_rollups where granularity = 'day'")
                )
            ).scalar_one()
        return {row.request_id: row.cost_usd for row in rows}, int(ledger), rollup

    deadline = time.monotonic() + 60
    while True:
        costs, ledger, rollup = await stored()
        if (len(costs), ledger, rollup) == (2, 2, Decimal(OLD_COST) + Decimal(NEW_COST)):
            break
        assert time.monotonic() < deadline, f"not consumed: requests={costs} ledger={ledger} rollup={rollup}"
        await asyncio.sleep(0.2)
    assert costs == {old.data["request_id"]: Decimal(OLD_COST), new.data["request_id"]: Decimal(NEW_COST)}
