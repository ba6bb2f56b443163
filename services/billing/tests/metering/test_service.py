"""Metering: exactly-once counters, charges and debits under redelivery and replay; Redis quota state."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import text

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import UsageMetered
from aiaas.quota import quota_key
from billing.metering.schemas import Usage
from billing.metering.service import meter_tenant
from billing.plans.repository import load_catalogue

from ..factories import (
    create_plan,
    current_period,
    grant_credit,
    ledger_count,
    subscribe,
    usage_event,
    wait_for,
    wait_metered,
)

PERIOD = current_period()
PRICES = {"standard": {"input_minor_per_1k": "100", "output_minor_per_1k": "200"}}


async def _counters(admin_sessions, tenant_id) -> dict[tuple[str, str], int]:
    async with admin_session(admin_sessions) as session:
        rows = (
            await session.execute(
                text("select model_alias, meter, quantity from usage_counters where tenant_id = :t"), {"t": tenant_id}
            )
        ).all()
    return {(r.model_alias, r.meter): r.quantity for r in rows}


async def _credit_rows(admin_sessions, tenant_id) -> list[tuple[int, int, str]]:
    async with admin_session(admin_sessions) as session:
        rows = (
            await session.execute(
                text(
                    "select amount_minor, balance_after_minor, reason from credit_ledger"
                    " where tenant_id = :t order by id"
                ),
                {"t": tenant_id},
            )
        ).all()
    return [(r.amount_minor, r.balance_after_minor, r.reason) for r in rows]


async def _publish_again(publisher, event: EventEnvelope) -> None:
    """A redelivery JetStream would not dedupe: same event, new message id (as a DLQ replay publishes)."""
    await publisher.publish_raw(event.subject, event.to_json(), {"Nats-Msg-Id": f"again-{uuid.uuid4()}"})


async def test_redelivery_and_replay_count_once(
    meter, publisher, tenant, admin_sessions, runtime_sessions, redis_client
):
    event = usage_event(tenant, "gpt-4o-mini", 120, 30)
    await publisher.publish(event)
    await publisher.publish(event)  # same Nats-Msg-Id: JetStream drops it
    await _publish_again(publisher, event)  # a true redelivery: the meter sees it twice
    await wait_metered(admin_sessions, tenant.id, 1)
    marker = usage_event(tenant, "gpt-4o", 1, 1)  # published after the copies: once it lands, they were handled
    await publisher.publish(marker)
    await wait_metered(admin_sessions, tenant.id, 2)

    expected = {
        ("gpt-4o-mini", "tokens_in"): 120,
        ("gpt-4o-mini", "tokens_out"): 30,
        ("gpt-4o-mini", "requests"): 1,
        ("gpt-4o", "tokens_in"): 1,
        ("gpt-4o", "tokens_out"): 1,
        ("gpt-4o", "requests"): 1,
    }
    assert await _counters(admin_sessions, tenant.id) == expected
    assert await ledger_count(admin_sessions, tenant.id) == 2

    # Replay straight into the metering function: nothing changes, the state it reports is the committed one.
    async with admin_session(admin_sessions) as session:
        catalogue = await load_catalogue(session)
    async with tenant_session(runtime_sessions, tenant.id) as session:
        state = await meter_tenant(
            session, catalogue, tenant.id, [Usage.from_event(event), Usage.from_event(marker)], clock.now()
        )
    assert (state.used_tokens, state.used_requests) == (152, 2)
    assert await _counters(admin_sessions, tenant.id) == expected

    # One billing.usage.metered event per usage event, in the outbox.
    async with admin_session(admin_sessions) as session:
        payloads = (
            await session.execute(
                text(
                    "select payload::text from event_outbox"
                    " where tenant_id = :t and subject like 'billing.usage.metered.%'"
                ),
                {"t": tenant.id},
            )
        ).scalars()
        metered = sorted(
            (UsageMetered.model_validate(EventEnvelope.from_json(p).data) for p in payloads),
            key=lambda m: m.tokens_in,
        )
    assert [(m.source_event_id, m.model_alias, m.tier, m.tokens_in, m.tokens_out, m.charge_minor) for m in metered] == [
        (marker.id, "gpt-4o", "large", 1, 1, Decimal(0)),
        (event.id, "gpt-4o-mini", "small", 120, 30, Decimal(0)),
    ]

    # The free plan's quota state is in Redis: 100k tokens, 1000 requests, committed usage.
    async def quota() -> dict[bytes, bytes] | None:
        found = await redis_client.hgetall(quota_key(tenant.id))
        return found if found.get(b"used_tokens") == b"152" else None

    found = await wait_for(quota)
    assert found[b"token_limit"] == b"100000"
    assert found[b"request_limit"] == b"1000"
    assert found[b"used_requests"] == b"2"
    assert found[b"credit_minor"] == b"0"
    assert found[b"limit_name"] == b"plan 'free': 100000 tokens per period"


async def test_overage_debits_credits_exactly_once(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions, redis_client
):
    plan = await create_plan(
        http, billing_admin_url, admin_headers, included_tokens=1000, overage_policy="bill", prices=PRICES
    )
    await subscribe(admin_sessions, tenant.id, plan, *PERIOD)
    await grant_credit(http, billing_admin_url, admin_headers, tenant.id, 10_000)

    within = usage_event(tenant, "m", 1000, 0)  # uses the whole allowance: no charge
    over = usage_event(tenant, "m", 500, 250)  # 500 x 100/1000 + 250 x 200/1000 = 50 + 50 = 100 cents
    await publisher.publish(within)
    await publisher.publish(over)
    await wait_metered(admin_sessions, tenant.id, 2)
    await _publish_again(publisher, over)
    await _publish_again(publisher, within)
    marker = usage_event(tenant, "m", 0, 0)
    await publisher.publish(marker)
    await wait_metered(admin_sessions, tenant.id, 3)

    assert await _credit_rows(admin_sessions, tenant.id) == [(10_000, 10_000, "grant"), (-100, 9_900, "usage")]
    async with http.get(f"{billing_url}/v1/billing/balance", headers=tenant.auth) as resp:
        assert await resp.json() == {"balance_minor": 9_900, "currency": "usd"}

    async def quota() -> dict[bytes, bytes] | None:
        found = await redis_client.hgetall(quota_key(tenant.id))
        return found if found.get(b"credit_minor") == b"9900" else None

    found = await wait_for(quota)
    assert found[b"token_limit"] == b"-1"  # 'bill' without a hard limit
    assert found[b"used_tokens"] == b"1750"
    assert found[b"period_start"] == PERIOD[0].isoformat().encode()


async def test_plan_change_lifts_the_block_at_once(billing_url, http, tenant, redis_client):
    async with http.get(f"{billing_url}/v1/billing/subscription", headers=tenant.auth) as resp:
        body = await resp.json()
    assert body["plan"]["code"] == "free"
    # Simulate the gateway having used the whole free allowance.
    async with http.post(f"{billing_url}/v1/billing/subscription", json={"plan": "free"}, headers=tenant.auth):
        pass
    await redis_client.hset(quota_key(tenant.id), "used_tokens", 100_000)

    async with http.post(f"{billing_url}/v1/billing/subscription", json={"plan": "pro"}, headers=tenant.auth) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["plan"]["code"] == "pro"
    # No waiting: the response returns after Redis was written.
    found = await redis_client.hgetall(quota_key(tenant.id))
    assert found[b"token_limit"] == b"20000000"
    assert found[b"request_limit"] == b"-1"
    assert found[b"limit_name"] == b"plan 'pro': hard limit of 20000000 tokens per period"
    assert found[b"used_tokens"] == b"100000"  # the edge's count is never lowered within a period


async def test_outbox_payloads_match_the_json_schemas(meter, publisher, tenant, admin_sessions):
    import json

    import jsonschema
    from referencing import Registry, Resource

    from data_plane import EVENTS_DIR

    schemas = {path.name: json.loads(path.read_text()) for path in EVENTS_DIR.glob("*.json")}
    registry = Registry().with_resources(
        [(name, Resource.from_contents(schema)) for name, schema in schemas.items()]
        + [(schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()]
    )
    await publisher.publish(usage_event(tenant, "gpt-4o", 70_000, 20_000))  # 90 % of free: crosses 80
    await wait_metered(admin_sessions, tenant.id, 1)
    async with admin_session(admin_sessions) as session:
        rows = (
            await session.execute(
                text("select subject, payload::text as payload from event_outbox where tenant_id = :t"),
                {"t": tenant.id},
            )
        ).all()
    types = []
    for row in rows:
        instance = json.loads(row.payload)
        schema = schemas[f"{instance['type']}.json"]
        jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker()).validate(
            instance
        )
        types.append(instance["type"])
    assert sorted(types) == ["billing.quota.threshold_reached", "billing.usage.metered"]
