"""Cache hits through the meter process (real NATS, Postgres, Redis): priced per plan, their own lines, once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import InvoiceFinalized, UsageMetered
from aiaas.quota import quota_key
from aiaas_testing import TenantWithKey
from aiaas_testing.events import usage_recorded

from .factories import create_plan, current_period, day_start, subscribe, wait_for, wait_metered

PERIOD = current_period()
PRICES = {"standard": {"input_minor_per_1k": "5", "output_minor_per_1k": "15"}}
_HIT_DATA = {"provider": None, "deployment": None, "upstream_model": None, "cost_usd": "0"}


def _event(tenant: TenantWithKey, tokens_in: int, tokens_out: int, cache: str | None, **kw: object) -> EventEnvelope:
    """A usage.recorded as the gateway meters it: a hit without deployment (provider null, cost 0)."""
    extra: dict[str, object] = dict(_HIT_DATA) if cache in ("exact", "semantic") else {}
    if cache is not None:
        extra["cache_status"] = cache
    return usage_recorded(
        tenant.id, tenant.key_id, model="chat", tokens_in=tokens_in, tokens_out=tokens_out, extra=extra, **kw
    )


async def _again(publisher, event: EventEnvelope) -> None:
    """A redelivery JetStream would not dedupe (same event, new message id, as a DLQ replay)."""
    await publisher.publish_raw(event.subject, event.to_json(), {"Nats-Msg-Id": f"again-{uuid.uuid4()}"})


async def _rows(admin_sessions, sql: str, tenant_id: uuid.UUID) -> list:
    async with admin_session(admin_sessions) as session:
        return list((await session.execute(text(sql), {"t": tenant_id})).all())


async def test_hits_are_metered_per_plan_on_their_own_lines_once(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    plan = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        included_tokens=1000,
        overage_policy="bill",
        prices=PRICES,
        cache_hit_fee_minor="0.5",
    )
    await subscribe(admin_sessions, tenant.id, plan, *PERIOD)
    miss = _event(tenant, 800, 400, "miss")  # 800 in + 200 out included, 200 out x 15/1000 = 3 cents
    exact_a = _event(tenant, 800, 400, "exact")  # the cached answer's tokens: none billed, fee 0.5
    exact_b = _event(tenant, 800, 400, "exact", ttft_ms=3.0)  # a streamed replay
    semantic = _event(tenant, 100, 300, "semantic")
    bypass = _event(tenant, 100, 100, "bypass")  # allowance gone: 100 x 5/1000 + 100 x 15/1000 = 2 cents
    error = _event(tenant, 0, 0, None, status="error")  # an upstream error from before the cache: a request
    for event in (miss, exact_a, exact_b, semantic, bypass):
        await publisher.publish(event)
    await _again(publisher, exact_a)
    await _again(publisher, semantic)
    await publisher.publish(error)  # last: once it is metered the redeliveries before it were handled
    await wait_metered(admin_sessions, tenant.id, 6)

    ledger = await _rows(
        admin_sessions,
        "select event_id, cache_status, tokens_in, tokens_out, cached_tokens, cache_hit_fee_minor, charge_minor"
        " from usage_ledger where tenant_id = :t",
        tenant.id,
    )
    by_id = {row.event_id: row[1:] for row in ledger}
    assert len(ledger) == 6
    assert by_id[exact_a.id] == ("exact", 0, 0, 1200, Decimal("0.5"), Decimal("0.5"))
    assert by_id[semantic.id] == ("semantic", 0, 0, 400, Decimal("0.5"), Decimal("0.5"))
    assert by_id[miss.id] == ("miss", 800, 400, 0, 0, Decimal(3))
    assert by_id[error.id] == (None, 0, 0, 0, 0, 0)
    counters = await _rows(
        admin_sessions,
        "select meter, quantity from usage_counters where tenant_id = :t and model_alias = 'chat'",
        tenant.id,
    )
    assert dict((r.meter, r.quantity) for r in counters) == {
        "tokens_in": 900,
        "tokens_out": 500,
        "requests": 6,
        "cache_hits_exact": 2,
        "cache_hits_semantic": 1,
        "cached_tokens": 2800,
    }

    async with http.get(f"{billing_url}/v1/billing/usage?period=current", headers=tenant.auth) as resp:
        assert resp.status == 200
        usage = await resp.json()
    assert usage["totals"] == {"tokens_in": 900, "tokens_out": 500, "tokens": 1400, "requests": 6}
    assert usage["cache"] == {
        "exact_hits": 2,
        "semantic_hits": 1,
        "hits": 3,
        "cached_tokens": 2800,
        "charge_minor": "1.5",
    }
    assert usage["overage_charge_minor"] == "6.5"  # 3 + 2 cents of tokens, 1.5 of hits
    assert [(m["model_alias"], m["requests"], m["cache_hits"]) for m in usage["models"]] == [("chat", 6, 3)]

    async with http.get(f"{billing_url}/v1/billing/invoice/preview", headers=tenant.auth) as resp:
        assert resp.status == 200
        preview = await resp.json()
    lines = [
        (ln["kind"], ln["meter"], ln["quantity"], ln["included_units"], ln["overage_units"], ln["unit_amount_minor"])
        + (ln["amount_minor"],)
        for ln in preview["lines"]
        if ln["kind"] != "base_fee"
    ]
    assert lines == [
        ("usage", "tokens_in", 900, 800, 100, "5", 1),  # 0.5 -> 1 (half up)
        ("usage", "tokens_out", 500, 200, 300, "15", 5),  # 4.5 -> 5
        ("cache_hits", "cache_hits_exact", 2, 0, 2, "0.5", 1),
        ("cache_hits", "cache_hits_semantic", 1, 0, 1, "0.5", 1),  # 0.5 -> 1
    ]
    assert (preview["subtotal_minor"], preview["tax_minor"], preview["total_minor"]) == (8, 1, 9)

    # One billing.usage.metered per usage event; a hit's carries no tokens and the fee as its charge.
    payloads = await _rows(
        admin_sessions,
        "select payload::text from event_outbox where tenant_id = :t and subject like 'billing.usage.metered.%'",
        tenant.id,
    )
    metered = {
        m.source_event_id: m
        for m in (UsageMetered.model_validate(EventEnvelope.from_json(p).data) for (p,) in payloads)
    }
    assert len(metered) == 6
    assert (metered[exact_b.id].tokens_in, metered[exact_b.id].tokens_out, metered[exact_b.id].charge_minor) == (
        0,
        0,
        Decimal("0.5"),
    )
    # The hit says so, with the tokens its cached answer served; a provider call is a miss with none.
    assert (metered[exact_b.id].cache_status, metered[exact_b.id].cached_tokens) == ("exact", 1200)
    assert (metered[semantic.id].cache_status, metered[semantic.id].cached_tokens) == ("semantic", 400)
    miss_metered = metered[miss.id]
    assert (miss_metered.cache_status, miss_metered.cached_tokens, miss_metered.tokens_out) == ("miss", 0, 400)
    assert (metered[bypass.id].cache_status, metered[error.id].cache_status) == ("bypass", None)


async def test_each_plan_prices_its_hits_and_hits_use_no_quota(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, make_tenant, admin_sessions, redis_client
):
    dear = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        included_tokens=0,
        overage_policy="bill",
        prices=PRICES,
        cache_hit_fee_minor="2",
    )
    on_dear, on_free = await make_tenant(), await make_tenant()
    await subscribe(admin_sessions, on_dear.id, dear, *PERIOD)
    # on_free gets the free plan on first need (fee 0, 100,000 tokens, 1,000 requests).
    for who in (on_dear, on_free):
        await publisher.publish(_event(who, 5000, 5000, "exact"))
        await publisher.publish(_event(who, 5000, 5000, "semantic"))
    await wait_metered(admin_sessions, on_dear.id, 2)
    await wait_metered(admin_sessions, on_free.id, 2)

    async def charges(who: TenantWithKey) -> dict:
        async with http.get(f"{billing_url}/v1/billing/usage?period=current", headers=who.auth) as resp:
            body = await resp.json()
        return {"cache": body["cache"]["charge_minor"], "overage": body["overage_charge_minor"], "plan": body["plan"]}

    assert await charges(on_dear) == {"cache": "4", "overage": "4", "plan": dear}
    assert await charges(on_free) == {"cache": "0", "overage": "0", "plan": "free"}

    # The quota the gateway enforces counts the hits as requests, never as tokens.
    async def quota() -> dict[bytes, bytes] | None:
        found = await redis_client.hgetall(quota_key(on_free.id))
        return found if found.get(b"used_requests") == b"2" else None

    found = await wait_for(quota)
    assert found[b"used_tokens"] == b"0"


async def test_a_closed_period_invoices_its_hits_on_their_own_lines(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    # A 31-day period that ended yesterday (by the clock), closed at the instant it ended.
    end = day_start(clock.now()) - timedelta(days=1)
    start = end - timedelta(days=31)
    plan = await create_plan(
        http,
        billing_admin_url,
        admin_headers,
        included_tokens=0,
        overage_policy="bill",
        prices=PRICES,
        cache_hit_fee_minor="0.75",
    )
    await subscribe(admin_sessions, tenant.id, plan, start, end)
    events = [
        _event(tenant, 1000, 200, "miss"),  # 1000 x 5/1000 + 200 x 15/1000 = 5 + 3 = 8 cents
        *(_event(tenant, 300, 300, "exact") for _ in range(3)),  # 3 x 0.75 = 2.25 -> 2
        _event(tenant, 10, 10, "semantic"),  # 0.75 -> 1
    ]
    for event in events:
        await publisher.publish(event)
    await wait_metered(admin_sessions, tenant.id, len(events))

    body = {"now": end.isoformat()}
    async with http.post(f"{billing_admin_url}/admin/billing/close-periods", json=body, headers=admin_headers) as resp:
        assert resp.status == 200, await resp.text()
    async with http.get(f"{billing_url}/v1/billing/invoices", headers=tenant.auth) as resp:
        (invoice,) = (await resp.json())["data"]
    lines = [
        (ln["kind"], ln["tier"], ln["meter"], ln["quantity"], ln["unit_amount_minor"], ln["amount_minor"])
        for ln in invoice["lines"]
        if ln["kind"] != "base_fee"
    ]
    assert lines == [
        ("usage", "standard", "tokens_in", 1000, "5", 5),
        ("usage", "standard", "tokens_out", 200, "15", 3),
        ("cache_hits", None, "cache_hits_exact", 3, "0.75", 2),
        ("cache_hits", None, "cache_hits_semantic", 1, "0.75", 1),
    ]
    assert (invoice["subtotal_minor"], invoice["tax_minor"], invoice["total_minor"]) == (11, 1, 12)

    # The closed period's usage still shows its hits apart from its tokens.
    async with http.get(
        f"{billing_url}/v1/billing/usage", params={"period": start.date().isoformat()}, headers=tenant.auth
    ) as resp:
        past = await resp.json()
    assert (past["current"], past["totals"]["tokens"], past["cache"]["hits"], past["cache"]["charge_minor"]) == (
        False,
        1200,
        4,
        "3",
    )
    async with admin_session(admin_sessions) as session:
        payload = (
            await session.execute(
                text("select payload::text from event_outbox where subject = :s"),
                {"s": f"billing.invoice.finalized.{tenant.id}"},
            )
        ).scalar_one()
    finalized = InvoiceFinalized.model_validate(EventEnvelope.from_json(payload).data)
    assert [line.amount_minor for line in finalized.lines if line.tier is None][-2:] == [2, 1]
