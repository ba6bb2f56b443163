"""The consumer process: lag on /metrics, poison events dead-lettered without holding back good ones."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from aiaas.events import EventEnvelope, event_id

BASE = datetime(2026, 7, 1, tzinfo=UTC)
_PENDING = re.compile(r'^consumer_pending_messages\{consumer="(?P<c>[^"]+)",stream="(?P<s>[^"]+)"\} (?P<v>\S+)$', re.M)


async def test_consumer_lag_is_exported(h, http, stack, publish, make_tenant):
    tenant = await make_tenant()
    await publish([h.usage_event(tenant.id, tenant.key_id, BASE)])
    seen: dict[tuple[str, str], float] = {}
    for _ in range(100):  # the runner reports every 2 s
        async with http.get(stack.metrics_url) as resp:
            assert resp.status == 200
            seen = {(m["c"], m["s"]): float(m["v"]) for m in _PENDING.finditer(await resp.text())}
        if seen.get(("analytics-usage", "USAGE")) == 0 and ("analytics-billing", "BILLING") in seen:
            break
        await asyncio.sleep(0.1)
    assert seen[("analytics-usage", "USAGE")] == 0
    assert seen[("analytics-billing", "BILLING")] == 0


async def test_poison_event_is_dead_lettered_and_good_ones_applied(h, http, stack, js, publish, make_tenant):
    tenant = await make_tenant()
    good = [h.usage_event(tenant.id, tenant.key_id, BASE + timedelta(minutes=i)) for i in range(5)]
    poison = EventEnvelope(
        id=event_id("usage.recorded", "poison", str(tenant.id)),
        type="usage.recorded",
        tenant_id=tenant.id,
        data={"request_id": "req_poison", "tokens_in": -1},
    )
    before = (await js.stream_info("DLQ")).state.messages
    await publish([*good[:2], poison, *good[2:]])  # returns once the poison left the consumer (dead-lettered)

    status, body = await h.get_json(
        http, f"{stack.api_url}/v1/analytics/kpis", tenant.auth, start=BASE, end=BASE + timedelta(hours=1)
    )
    assert status == 200
    assert h.counters_of(body["totals"]) == h.expected_kpis(good)
    dlq = await js.stream_info("DLQ", subjects_filter="dlq.USAGE.analytics-usage")
    assert dlq.state.messages > before
