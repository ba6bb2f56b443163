"""KPI API: tenant isolation on every GET endpoint, the admin view across tenants, CSV equal to JSON."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from aiaas.db import tenant_session

BASE = datetime(2026, 5, 10, tzinfo=UTC)
END = BASE + timedelta(days=1)


async def _two_tenants(h, make_tenant, publish):
    a, b = await make_tenant(), await make_tenant()
    secret_model = f"b-secret-{uuid.uuid4().hex[:8]}"
    b_key = uuid.uuid4()
    a_events = [
        h.usage_event(a.id, a.key_id, BASE + timedelta(minutes=7 * i), latency_ms=50.0 + i, ttft_ms=10.0 + i)
        for i in range(20)
    ]
    b_events = [
        h.usage_event(b.id, k, BASE + timedelta(minutes=5 * i), model=secret_model, cost_usd="1.5000000000")
        for i in range(30)
        for k in (b.key_id, b_key)
    ]
    await publish(a_events + b_events)
    return a, b, a_events, b_events, secret_model, b_key


async def test_tenant_sees_only_its_own_kpis_on_every_get_endpoint(
    h, http, stack, make_tenant, publish, runtime_sessions
):
    a, b, a_events, _, secret_model, b_key = await _two_tenants(h, make_tenant, publish)
    async with http.get(f"{stack.api_url}/openapi.json") as resp:
        schema = await resp.json()
    tenant_paths = [p for p, ops in schema["paths"].items() if "get" in ops and p.startswith("/v1/")]
    assert set(tenant_paths) == {"/v1/analytics/kpis", "/v1/analytics/kpis.csv"}
    assert not [p for p in schema["paths"] if p.startswith("/admin/")]  # the admin view is another listener's
    async with http.get(f"{stack.admin_url}/openapi.json") as resp:
        admin_schema = await resp.json()
    admin_paths = [p for p, ops in admin_schema["paths"].items() if "get" in ops and p.startswith("/admin/")]
    assert admin_paths == ["/admin/analytics/kpis"]
    assert not [p for p in admin_schema["paths"] if p.startswith("/v1/")]

    b_marks = [secret_model, str(b.id), str(b.key_id), str(b_key)]
    for path in tenant_paths:
        for extra in ({}, {"model": secret_model}, {"api_key_id": str(b.key_id)}, {"api_key_id": str(b_key)}):
            params = {"start": BASE.isoformat(), "end": END.isoformat(), "granularity": "minute", **extra}
            async with http.get(f"{stack.api_url}{path}", params=params, headers=a.auth) as resp:
                assert resp.status == 200, path
                body = await resp.text()
            if not path.endswith(".csv"):
                echoed = json.loads(body)
                assert (echoed.pop("model"), echoed.pop("api_key_id")) == (extra.get("model"), extra.get("api_key_id"))
                body = json.dumps(echoed)  # the filters A sent come back; nothing else of B may
            assert not any(mark in body for mark in b_marks), (path, extra)
            if path.endswith(".csv"):
                rows = list(csv.DictReader(io.StringIO(body)))
                assert sum(int(r["requests"]) for r in rows) == (len(a_events) if not extra else 0)
    status, body = await h.get_json(http, f"{stack.api_url}/v1/analytics/kpis", a.auth, start=BASE, end=END)
    assert h.counters_of(body["totals"]) == h.expected_kpis(a_events)
    # B's key reads B only.
    status, body = await h.get_json(http, f"{stack.api_url}/v1/analytics/kpis", b.auth, start=BASE, end=END)
    assert body["totals"]["requests"] == 60 and body["top_models"][0]["model"] == secret_model
    # A tenant key is no admin key.
    for path in admin_paths:
        status, body = await h.get_json(http, stack.url(path), a.auth, start=BASE, end=END)
        assert status == 401
        h.assert_error_shape(body)
    # Underneath, RLS itself hides B's rows from A's transaction, even when asked by id.
    async with tenant_session(runtime_sessions, a.id) as session:
        for table in ("analytics_usage_rollups", "analytics_events_applied", "analytics_billing_event_counts"):
            seen = (
                await session.execute(text(f"select count(*) from {table} where tenant_id = :b"), {"b": b.id})
            ).scalar_one()
            assert seen == 0, table


async def test_admin_sees_every_tenant_with_a_breakdown(h, http, stack, make_tenant, publish, admin_headers):
    a, b, a_events, b_events, _, _ = await _two_tenants(h, make_tenant, publish)
    url = f"{stack.admin_url}/admin/analytics/kpis"
    status, body = await h.get_json(http, url, admin_headers, start=BASE, end=END, granularity="day")
    assert status == 200, body
    tenants = {t["tenant_id"]: t for t in body["tenants"]}
    assert h.counters_of(tenants[str(a.id)]) == h.expected_kpis(a_events)
    assert h.counters_of(tenants[str(b.id)]) == h.expected_kpis(b_events)
    assert body["totals"]["requests"] >= len(a_events) + len(b_events)  # other tests' tenants share the day

    status, body = await h.get_json(http, url, admin_headers, start=BASE, end=END, tenant_id=b.id)
    assert status == 200
    assert [t["tenant_id"] for t in body["tenants"]] == [str(b.id)]
    assert h.counters_of(body["totals"]) == h.expected_kpis(b_events)
    assert Decimal(body["totals"]["cost_usd"]) == Decimal("90")
    assert len(body["api_keys"]) == 2

    for headers in ({}, {"Authorization": "Bearer nope"}, a.auth):
        status, body = await h.get_json(http, url, headers, start=BASE, end=END)
        assert status == 401
        h.assert_error_shape(body)


async def test_csv_export_parses_and_matches_the_json(h, http, stack, make_tenant, publish):
    a, _, _, _, _, _ = await _two_tenants(h, make_tenant, publish)
    params = {"start": BASE.isoformat(), "end": END.isoformat(), "granularity": "hour"}
    async with http.get(f"{stack.api_url}/v1/analytics/kpis.csv", params=params, headers=a.auth) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/csv")
        assert "attachment" in resp.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    status, body = await h.get_json(http, f"{stack.api_url}/v1/analytics/kpis", a.auth, **params)
    assert status == 200
    assert len(rows) == len(body["series"]) > 1

    def num(cell: str) -> float | None:
        return None if cell == "" else float(cell)

    for row, point in zip(rows, body["series"], strict=True):
        assert datetime.fromisoformat(row["bucket"]) == datetime.fromisoformat(point["bucket"])
        for col in ("requests", "succeeded", "errored", "cancelled", "tokens_in", "tokens_out"):
            assert int(row[col]) == point[col]
        assert Decimal(row["cost_usd"]) == Decimal(point["cost_usd"])
        assert num(row["error_rate"]) == point["error_rate"]
        assert num(row["cache_hit_rate"]) == point["cache_hit_rate"]
        for q in ("p50", "p95", "p99"):
            assert num(row[f"latency_{q}_ms"]) == point["latency_ms"][q]
            assert num(row[f"ttft_{q}_ms"]) == point["ttft_ms"][q]
