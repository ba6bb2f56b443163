"""Cache hit rate, tokens saved and the router's tier distribution, from usage events to the KPI API.

Events carry `cache_status` (exact|semantic|miss|bypass) and, for `model: "auto"`, the router's tier and reason,
as the gateway's meter writes them. A hit's tokens are the cached answer's: saved, not provider tokens.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from aiaas.db import tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.publisher import EventPublisher
from aiaas_testing.events import usage_recorded
from analytics.rollups.rollup import Rollup
from analytics.rollups.service import aggregate_router, usage_of

BASE = datetime(2026, 4, 6, 9, tzinfo=UTC)  # events carry their own times: no clock involved
_HIT = {"provider": None, "deployment": None, "upstream_model": None, "cost_usd": "0"}


def _event(
    tenant,
    minute: int,
    *,
    cache: str | None = None,
    tier: str | None = None,
    reason: str | None = None,
    model: str = "chat",
    tokens: tuple[int, int] = (100, 50),
    key: uuid.UUID | None = None,
) -> EventEnvelope:
    extra: dict[str, object] = dict(_HIT) if cache in ("exact", "semantic") else {}
    if cache is not None:
        extra["cache_status"] = cache
    if tier is not None:
        # As the gateway meters `model: "auto"`: model_alias is the alias that served, the named one is kept apart.
        extra.update(
            router_decision_id=f"dec_{uuid.uuid4().hex}", router_tier=tier, router_reason=reason, requested_alias="auto"
        )
    started = BASE + timedelta(minutes=minute)
    return usage_recorded(
        tenant.id,
        key or tenant.key_id,
        model=model,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost_usd="0" if cache in ("exact", "semantic") else "0.0010000000",
        started_at=started,
        occurred_at=started,
        extra=extra,
    )


def test_a_hit_counts_as_saved_tokens_and_a_legacy_flag_still_counts() -> None:
    tenant = type("T", (), {"id": uuid.uuid4(), "key_id": uuid.uuid4()})()
    cell = Rollup()
    for event in (
        _event(tenant, 0, cache="exact", tokens=(40, 60)),
        _event(tenant, 0, cache="semantic", tokens=(5, 5)),
        _event(tenant, 0, cache="miss", tokens=(7, 3)),
        _event(tenant, 0, cache="bypass", tokens=(1, 1)),
        _event(tenant, 0),  # said nothing about the cache
    ):
        cell.add_usage(*usage_of(event))
    legacy = _event(tenant, 0, tokens=(2, 2))
    legacy.data["cache_hit"] = True  # events of an older gateway: a flag, no status, tokens counted as before
    cell.add_usage(*usage_of(legacy))
    assert (cell.requests, cell.cache_observed, cell.cache_hits, cell.cache_semantic_hits) == (6, 5, 3, 1)
    assert (cell.tokens_in, cell.tokens_out, cell.cache_tokens_saved) == (110, 56, 110)


def test_router_cells_count_routed_events_per_granularity() -> None:
    tenant = type("T", (), {"id": uuid.uuid4(), "key_id": uuid.uuid4()})()
    events = [
        _event(tenant, 1, tier="cheap", reason="classifier", model="mini"),
        _event(tenant, 2, tier="cheap", reason="classifier", model="mini"),
        _event(tenant, 61, tier="strong", reason="fallback", model="large"),
        _event(tenant, 3),  # not routed
    ]
    cells = aggregate_router(usage_of(event) for event in events)
    assert len(cells) == 3 + 2 + 2  # minute: 3 buckets; hour: 2 (cheap 9:00, strong 10:00); day: 2 (tier, reason)
    day = {(k[4], k[5]): n for k, n in cells.items() if k[0] == "day"}
    assert day == {("cheap", "classifier"): 2, ("strong", "fallback"): 1}


async def test_kpis_show_hit_rate_tokens_saved_and_tier_distribution(
    h, http, stack, js, publish, make_tenant, runtime_sessions, admin_headers
):
    tenant, other = await make_tenant(), await make_tenant()
    second_key = uuid.uuid4()
    events = [
        _event(tenant, 0, cache="miss", tokens=(100, 50)),
        _event(tenant, 1, cache="exact", tokens=(100, 50)),
        _event(tenant, 2, cache="exact", tokens=(100, 50)),
        _event(tenant, 3, cache="semantic", tokens=(80, 20)),
        _event(tenant, 4, cache="bypass", tokens=(10, 10)),
        _event(tenant, 5, cache="miss", tier="cheap", reason="classifier", model="mini", tokens=(30, 30)),
        _event(tenant, 6, cache="miss", tier="cheap", reason="early_exit", model="mini", tokens=(30, 30)),
        _event(tenant, 7, cache="miss", tier="strong", reason="bandit", model="large", key=second_key, tokens=(30, 30)),
        _event(tenant, 8, cache="semantic", model="auto", tokens=(10, 10)),  # a hit of auto comes before routing
        _event(tenant, 9, tokens=(1, 1)),  # an event that says nothing of the cache
    ]
    foreign = [_event(other, 1, cache="miss", tier="strong", reason="pinned", model="large")]
    await publish([*events, *foreign])
    # Redelivery of a hit and a routed event (new message ids): counted once.
    publisher = EventPublisher(js)
    for again in (events[1], events[5]):
        await publisher.publish_raw(again.subject, again.to_json(), {"Nats-Msg-Id": f"again-{uuid.uuid4()}"})
    await h.wait_caught_up(js)

    url = f"{stack.api_url}/v1/analytics/kpis"
    window = {"start": BASE, "end": BASE + timedelta(hours=1), "granularity": "hour"}
    status, body = await h.get_json(http, url, tenant.auth, **window)
    assert status == 200, body
    totals = body["totals"]
    assert totals["requests"] == 10
    assert (totals["cache_hits"], totals["cache_semantic_hits"], totals["cache_tokens_saved"]) == (4, 2, 420)
    assert totals["cache_hit_rate"] == 4 / 9  # of the nine events that carried a cache status
    assert (totals["tokens_in"], totals["tokens_out"]) == (201, 151)  # provider tokens: misses, bypass, unknown
    assert body["router_tiers"] == [
        {"tier": "cheap", "reason": "classifier", "requests": 1, "share": 1 / 3},
        {"tier": "cheap", "reason": "early_exit", "requests": 1, "share": 1 / 3},
        {"tier": "strong", "reason": "bandit", "requests": 1, "share": 1 / 3},
    ]
    by_model = {m["model"]: m for m in body["top_models"]}
    assert (by_model["auto"]["cache_hits"], by_model["chat"]["cache_hits"]) == (1, 3)

    # The filters apply to the tier distribution too.
    status, body = await h.get_json(http, url, tenant.auth, **window, api_key_id=second_key)
    assert body["router_tiers"] == [{"tier": "strong", "reason": "bandit", "requests": 1, "share": 1.0}]
    status, body = await h.get_json(http, url, tenant.auth, **window, model="chat")
    assert body["router_tiers"] == [] and body["totals"]["cache_hits"] == 3
    status, body = await h.get_json(http, url, tenant.auth, **window, model="mini")
    assert [(t["tier"], t["requests"]) for t in body["router_tiers"]] == [("cheap", 1), ("cheap", 1)]

    # CSV carries the cache columns.
    async with http.get(
        f"{stack.api_url}/v1/analytics/kpis.csv",
        params={k: v.isoformat() if isinstance(v, datetime) else v for k, v in window.items()},
        headers=tenant.auth,
    ) as resp:
        header, row = (await resp.text()).splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert (cells["cache_hits"], cells["cache_semantic_hits"], cells["cache_tokens_saved"]) == ("4", "2", "420")

    # Never across tenants: the other tenant sees its own routing only, and so does an RLS probe as app_runtime.
    status, body = await h.get_json(http, url, other.auth, **window)
    assert body["router_tiers"] == [{"tier": "strong", "reason": "pinned", "requests": 1, "share": 1.0}]
    async with tenant_session(runtime_sessions, tenant.id) as session:
        owners = (await session.execute(text("select distinct tenant_id from analytics_router_tiers"))).scalars().all()
        hidden = (
            await session.execute(
                text("select count(*) from analytics_router_tiers where tenant_id = :o"), {"o": other.id}
            )
        ).scalar_one()
    assert owners == [tenant.id] and hidden == 0

    # The platform admin sees one tenant's routing when it asks for that tenant.
    admin_url = f"{stack.admin_url}/admin/analytics/kpis"
    status, body = await h.get_json(http, admin_url, admin_headers, **window, tenant_id=other.id)
    assert status == 200, body
    assert body["router_tiers"] == [{"tier": "strong", "reason": "pinned", "requests": 1, "share": 1.0}]
