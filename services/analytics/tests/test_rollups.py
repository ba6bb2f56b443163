"""Usage and billing events -> read models -> KPI API: totals, series and breakdowns equal the events."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from aiaas.db import tenant_session
from aiaas.events import EventEnvelope, event_id
from aiaas.events.publisher import EventPublisher
from analytics.rollups.buckets import floor
from analytics.rollups.service import apply_billing, apply_usage, usage_of

BASE = datetime(2026, 3, 2, tzinfo=UTC)
MODELS = ("chat", "claude", "embed-large")


def dataset(h, tenant, n: int, seed: int, *, base: datetime = BASE, span: timedelta = timedelta(days=2)):
    """`n` realistic events of `tenant` spread over `span`: three models, three keys, all statuses."""
    rng = random.Random(seed)
    keys = [tenant.key_id, uuid.uuid4(), uuid.uuid4()]
    events = []
    for _ in range(n):
        status = rng.choices(["success", "error", "cancelled"], weights=[85, 10, 5])[0]
        stream = rng.random() < 0.5
        latency = rng.lognormvariate(6, 0.8)
        events.append(
            h.usage_event(
                tenant.id,
                rng.choice(keys),
                base + timedelta(seconds=rng.uniform(0, span.total_seconds())),
                model=rng.choices(MODELS, weights=[6, 3, 1])[0],
                status=status,
                tokens_in=rng.randint(0, 4000),
                tokens_out=0 if status == "error" else rng.randint(0, 2000),
                cost_usd=f"{Decimal(rng.randint(0, 10**8)) / 10**10:.10f}",
                latency_ms=latency,
                ttft_ms=latency * rng.uniform(0.05, 0.5) if stream else None,
            )
        )
    return events


async def test_totals_series_and_breakdowns_equal_the_events(h, http, stack, publish, make_tenant, runtime_sessions):
    tenant = await make_tenant()
    events = dataset(h, tenant, 400, seed=1)
    await publish(events)
    url = f"{stack.api_url}/v1/analytics/kpis"
    end = BASE + timedelta(days=2)

    reports = {}
    for granularity in ("minute", "hour", "day"):
        status, body = await h.get_json(http, url, tenant.auth, start=BASE, end=end, granularity=granularity)
        assert status == 200, body
        assert h.counters_of(body["totals"]) == h.expected_kpis(events)
        reports[granularity] = body
    # Merging sketches is exact, so every granularity gives the very same percentiles.
    assert reports["minute"]["totals"] == reports["hour"]["totals"] == reports["day"]["totals"]

    by_hour = defaultdict(list)
    for ev in events:
        by_hour[floor(datetime.fromisoformat(ev.data["started_at"]), "hour")].append(ev)
    series = reports["hour"]["series"]
    assert [datetime.fromisoformat(p["bucket"]) for p in series] == sorted(by_hour)
    for point in series:
        assert h.counters_of(point) == h.expected_kpis(by_hour[datetime.fromisoformat(point["bucket"])])

    for point in reports["day"]["top_models"]:
        assert h.counters_of(point) == h.expected_kpis([e for e in events if e.data["model_alias"] == point["model"]])
    assert [p["model"] for p in reports["day"]["top_models"]] == sorted(
        {e.data["model_alias"] for e in events},
        key=lambda m: -sum(e.data["model_alias"] == m for e in events),
    )
    assert len(reports["day"]["api_keys"]) == 3
    for point in reports["day"]["api_keys"]:
        subset = [e for e in events if e.data["api_key_id"] == point["api_key_id"]]
        assert h.counters_of(point) == h.expected_kpis(subset)

    # Filters narrow every figure.
    key = str(tenant.key_id)
    status, body = await h.get_json(
        http, url, tenant.auth, start=BASE, end=end, granularity="day", model="claude", api_key_id=key
    )
    assert status == 200
    subset = [e for e in events if e.data["model_alias"] == "claude" and e.data["api_key_id"] == key]
    assert h.counters_of(body["totals"]) == h.expected_kpis(subset)
    assert {p["model"] for p in body["top_models"]} == {"claude"}

    # The same facts as the gateway's `requests` table would hold them: SQL sums agree.
    async with tenant_session(runtime_sessions, tenant.id) as session:
        for ev in events:
            await session.execute(
                text(
                    "insert into requests (event_id, request_id, tenant_id, api_key_id, model_alias, stream, status,"
                    " tokens_in, tokens_out, cost_usd, latency_ms, ttft_ms, started_at, completed_at) values (:eid,"
                    " :rid, :tid, :kid, :model, :stream, :status, :tin, :tout, :cost_usd, :lat, :ttft, :start, :done)"
                ),
                {
                    "eid": ev.id,
                    "rid": ev.data["request_id"],
                    "tid": tenant.id,
                    "kid": uuid.UUID(ev.data["api_key_id"]),
                    "model": ev.data["model_alias"],
                    "stream": ev.data["stream"],
                    "status": ev.data["status"],
                    "tin": ev.data["tokens_in"],
                    "tout": ev.data["tokens_out"],
                    "cost_usd": Decimal(ev.data["cost_usd"]),
                    "lat": ev.data["latency_ms"],
                    "ttft": ev.data["ttft_ms"],
                    "start": datetime.fromisoformat(ev.data["started_at"]),
                    "done": datetime.fromisoformat(ev.data["completed_at"]),
                },
            )
        sql = (
            await session.execute(
                text(
                    "select count(*) as requests, count(*) filter (where status = 'error') as errored,"
                    " sum(tokens_in) as tokens_in, sum(tokens_out) as tokens_out, sum(cost_usd) as cost_usd"
                    " from requests"
                )
            )
        ).one()
    totals = reports["day"]["totals"]
    assert (totals["requests"], totals["errored"], totals["tokens_in"], totals["tokens_out"]) == (
        sql.requests,
        sql.errored,
        sql.tokens_in,
        sql.tokens_out,
    )
    assert Decimal(totals["cost_usd"]) == sql.cost_usd


async def test_duplicates_and_redeliveries_count_once(h, http, stack, js, publish, make_tenant, runtime_sessions):
    tenant = await make_tenant()
    events = dataset(h, tenant, 30, seed=2, span=timedelta(hours=3))
    await publish(events)
    # Republished under new Nats-Msg-Ids (past JetStream's duplicate window), twice in a row for one of them.
    publisher = EventPublisher(js)
    for i, ev in enumerate([*events[:10], events[0]]):
        await publisher.publish_raw(ev.subject, ev.to_json(), {"Nats-Msg-Id": f"again-{i}-{ev.id}"})
    await publish([])
    # A redelivery after a crash between commit and ack: the projection sees the batch again.
    assert await apply_usage(runtime_sessions, events[:5] + events[:5]) == 0

    status, body = await h.get_json(
        http, f"{stack.api_url}/v1/analytics/kpis", tenant.auth, start=BASE, end=BASE + timedelta(days=1)
    )
    assert status == 200
    assert h.counters_of(body["totals"]) == h.expected_kpis(events)
    async with tenant_session(runtime_sessions, tenant.id) as session:
        applied = (await session.execute(text("select count(*) from analytics_events_applied"))).scalar_one()
    assert applied == len(events)


async def test_cache_hit_rate_counts_flagged_events_only(h, http, stack, publish, make_tenant):
    tenant = await make_tenant()
    start = BASE + timedelta(hours=1)
    flags = [True, True, True, False, None, None, None, None]
    events = [h.usage_event(tenant.id, tenant.key_id, start, cache_hit=flag) for flag in flags]
    await publish(events)
    url = f"{stack.api_url}/v1/analytics/kpis"
    status, body = await h.get_json(http, url, tenant.auth, start=start, end=start + timedelta(hours=1))
    assert status == 200
    assert body["totals"]["requests"] == 8
    assert body["totals"]["cache_hit_rate"] == 0.75

    # No flags at all (today's gateway events): unknown, not 0 %.
    other = await make_tenant()
    await publish([h.usage_event(other.id, other.key_id, start)])
    status, body = await h.get_json(http, url, other.auth, start=start, end=start + timedelta(hours=1))
    assert body["totals"]["requests"] == 1
    assert body["totals"]["cache_hit_rate"] is None
    # An empty range: zero counters, null rates and percentiles.
    status, body = await h.get_json(http, url, other.auth, start=BASE - timedelta(days=3), end=BASE)
    assert status == 200
    assert body["totals"]["requests"] == 0 and Decimal(body["totals"]["cost_usd"]) == 0
    assert body["totals"]["error_rate"] is None and body["totals"]["latency_ms"] == {
        "p50": None,
        "p95": None,
        "p99": None,
    }
    assert body["series"] == [] and body["top_models"] == [] and body["api_keys"] == []


async def test_billing_events_are_counted_by_type(h, http, stack, js, publish, make_tenant, runtime_sessions):
    tenant = await make_tenant()
    when = BASE + timedelta(hours=5)

    def billing(kind: str, key: str) -> EventEnvelope:
        return EventEnvelope(
            id=event_id(kind, str(tenant.id), key), type=kind, tenant_id=tenant.id, occurred_at=when, data={"k": key}
        )

    events = [
        billing("billing.quota.threshold_reached", "80"),
        billing("billing.quota.threshold_reached", "100"),
        billing("billing.invoice.finalized", "inv-1"),
        billing("billing.something.new_in_v2", "x"),  # unknown today: still counted by type
    ]
    await publish(events)
    publisher = EventPublisher(js)
    await publisher.publish_raw(events[2].subject, events[2].to_json(), {"Nats-Msg-Id": "dup-" + str(events[2].id)})
    await publish([])
    assert await apply_billing(runtime_sessions, events) == 0

    status, body = await h.get_json(
        http, f"{stack.api_url}/v1/analytics/kpis", tenant.auth, start=BASE, end=BASE + timedelta(days=1)
    )
    assert status == 200
    assert body["billing_events"] == {
        "billing.invoice.finalized": 1,
        "billing.quota.threshold_reached": 2,
        "billing.something.new_in_v2": 1,
    }
    # Days the range does not touch hold none.
    status, body = await h.get_json(
        http,
        f"{stack.api_url}/v1/analytics/kpis",
        tenant.auth,
        start=BASE + timedelta(days=1),
        end=BASE + timedelta(days=2),
    )
    assert body["billing_events"] == {}


def test_a_usage_event_from_before_cost_named_its_unit_is_read_with_the_same_dollars(h):
    event = h.usage_event(uuid.uuid4(), uuid.uuid4(), BASE, cost_usd="1.2500000001")
    data = {("cost" if key == "cost_usd" else key): value for key, value in event.data.items()}
    usage, _ = usage_of(event.model_copy(update={"data": data}))
    assert usage.cost_usd == Decimal("1.2500000001")
