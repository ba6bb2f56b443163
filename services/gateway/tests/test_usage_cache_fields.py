"""The usage event's cache and router fields, from the meter through JetStream to the usage writer's rows.

The gateway's own UsageMeter emits through a DurableEmitter onto the shared NATS; the usage writer process
(`python -m gateway.usage_writer`) stores the rows. A hit has no deployment: provider null, cost 0, the cached
answer's tokens; the fields appear in the event only when set, and a redelivered event is still one row.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import nats
from sqlalchemy import text

from aiaas.auth import Principal
from aiaas.db import tenant_session
from aiaas.events import DurableEmitter, EventEnvelope, EventPublisher, ensure_topology
from aiaas.events.schemas import UsageRecorded
from aiaas_testing import TenantWithKey, wait_for
from gateway.catalog.schemas import Deployment
from gateway.providers.base import Usage
from gateway.usage.meter import RequestRecord, UsageMeter

from .factories import usage_validator

DEPLOYMENT = Deployment(
    name="chat-a",
    provider="openai",
    model="sim-chat-a",
    base_url="http://127.0.0.1:9/v1",
    input_usd_per_1k=Decimal("0.5"),
    output_usd_per_1k=Decimal("1.5"),
)
_COLUMNS = (
    "request_id, provider, deployment, cost_usd, tokens_in, tokens_out, status, stream, cache_status,"
    " router_decision_id, router_tier, router_reason, requested_alias"
)


def _principal(tenant: TenantWithKey) -> Principal:
    return Principal(tenant.id, tenant.key_id, ("chat",), None, None, None, None)


def _record(tenant: TenantWithKey, *, stream: bool = False, **fields: object) -> RequestRecord:
    record = RequestRecord(_principal(tenant), "chat", stream, str(tenant.key_id))
    for name, value in fields.items():
        setattr(record, name, value)
    return record


async def _rows(runtime_sessions, tenant_id: uuid.UUID) -> dict[str, tuple]:
    async with tenant_session(runtime_sessions, tenant_id) as session:
        rows = (await session.execute(text(f"select {_COLUMNS} from requests"))).all()  # noqa: S608  # nosec B608
    return {row.request_id: tuple(row[1:]) for row in rows}


async def test_cache_and_router_fields_reach_the_usage_rows(infra_urls, usage_writer, make_tenant, runtime_sessions):
    tenant = await make_tenant()
    nc = await nats.connect(infra_urls.nats_url)
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=())
        publisher = EventPublisher(js)
        meter = UsageMeter(DurableEmitter(publisher, runtime_sessions))
        exact = _record(tenant, cache_status="exact")  # no deployment: nothing reached a provider
        semantic = _record(tenant, stream=True, cache_status="semantic")
        semantic.mark_first_token()
        routed = _record(
            tenant,
            deployment=DEPLOYMENT,
            attempts=1,
            cache_status="miss",
            router_decision_id="dec_0123",
            router_tier="cheap",
            router_reason="classifier",
            requested_alias="auto",  # the caller named auto; model_alias is the alias that served
        )
        bypass = _record(tenant, deployment=DEPLOYMENT, attempts=1, cache_status="bypass")
        legacy = _record(tenant, deployment=DEPLOYMENT, attempts=1)  # neither cache nor router touched it
        failed = _record(tenant, deployment=DEPLOYMENT, attempts=2, cache_status="miss")
        meter.record(exact, status="success", usage=Usage(30, 12), http_status=200)
        meter.record(semantic, status="success", usage=Usage(7, 40), http_status=200)
        meter.record(routed, status="success", usage=Usage(1000, 2000), http_status=200)
        meter.record(bypass, status="success", usage=Usage(10, 20), http_status=200)
        meter.record(legacy, status="success", usage=Usage(10, 20), http_status=200)
        meter.record(failed, status="error", usage=Usage(0, 0), http_status=502, error_code="upstream_error")
        meter.record(exact, status="success", usage=Usage(30, 12), http_status=200)  # a second call: ignored

        # What went onto the wire: schema-valid, the fields only where set.
        sub = await js.subscribe(f"usage.recorded.{tenant.id}", ordered_consumer=True)
        events: dict[str, EventEnvelope] = {}
        while len(events) < 6:
            msg = await sub.next_msg(timeout=30)
            event = EventEnvelope.from_json(msg.data)
            events[event.data["request_id"]] = event
        await sub.unsubscribe()
        validator = usage_validator()
        for event in events.values():
            validator.validate(json.loads(event.to_json()))
            UsageRecorded.model_validate(event.data)
        assert "cache_status" not in events[legacy.request_id].data
        assert "router_decision_id" not in events[exact.request_id].data
        assert events[exact.request_id].data["cache_status"] == "exact"

        # A redelivery (same event, a message id JetStream has not seen) is still one row.
        again = events[exact.request_id]
        await publisher.publish_raw(again.subject, again.to_json(), {"Nats-Msg-Id": f"again-{uuid.uuid4()}"})
        marker = _record(tenant, cache_status="exact")
        meter.record(marker, status="success", usage=Usage(1, 1), http_status=200)

        async def written() -> dict[str, tuple] | None:
            rows = await _rows(runtime_sessions, tenant.id)
            return rows if marker.request_id in rows and len(rows) >= 7 else None

        rows = await wait_for(written)
        await asyncio.sleep(0.3)  # the redelivery came before the marker; nothing else may arrive
        rows = await _rows(runtime_sessions, tenant.id)
    finally:
        await nc.close()

    assert len(rows) == 7
    assert rows[exact.request_id] == (None, None, 0, 30, 12, "success", False, "exact", None, None, None, None)
    assert rows[semantic.request_id] == (None, None, 0, 7, 40, "success", True, "semantic", None, None, None, None)
    cost = Decimal("0.5") * 1 + Decimal("1.5") * 2  # 1k in, 2k out at the deployment's dollars per 1k
    assert rows[routed.request_id] == (
        "openai",
        "chat-a",
        cost,
        1000,
        2000,
        "success",
        False,
        "miss",
        "dec_0123",
        "cheap",
        "classifier",
        "auto",
    )
    assert rows[bypass.request_id][7:] == ("bypass", None, None, None, None)
    assert rows[legacy.request_id][7:] == (None, None, None, None, None)
    assert rows[failed.request_id][5] == "error" and rows[failed.request_id][7] == "miss"
