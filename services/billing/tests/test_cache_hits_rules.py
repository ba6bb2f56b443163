"""Cache hits in the pure rules: no provider tokens, no allowance, the plan's fee per hit, own invoice lines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aiaas.events import event_id
from aiaas.events.schemas import USAGE_RECORDED
from aiaas_testing.events import usage_recorded
from billing.invoices.rules import CacheHitGroup, cache_hit_lines
from billing.metering.rules import MeterStart, meter_usages
from billing.metering.schemas import Usage
from billing.plans.catalogue import Catalogue, Plan, TierPrice

MOMENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # any instant: the rules read no clock
TENANT, KEY = uuid.uuid4(), uuid.uuid4()


def _plan(fee: str, included: int = 1000) -> Plan:
    return Plan(
        code="p",
        name="P",
        currency="usd",
        base_fee_minor=0,
        included_tokens=included,
        included_requests=None,
        overage_policy="bill",
        hard_limit_tokens=None,
        soft_limit_pcts=(50, 100),
        active=True,
        prices={"standard": TierPrice(Decimal(5), Decimal(15))},
        cache_hit_fee_minor=Decimal(fee),
    )


CATALOGUE = Catalogue(plans={}, tiers={})


def _usage(tokens_in: int, tokens_out: int, cache_status: str | None) -> Usage:
    extra: dict[str, object] = {}
    if cache_status in ("exact", "semantic"):
        # As the gateway meters a hit: no deployment, provider null, cost 0, the cached answer's tokens.
        extra = {"provider": None, "deployment": None, "upstream_model": None, "cost_usd": "0"}
    if cache_status is not None:
        extra["cache_status"] = cache_status
    event = usage_recorded(
        TENANT, KEY, tokens_in=tokens_in, tokens_out=tokens_out, started_at=MOMENT, occurred_at=MOMENT, extra=extra
    )
    return Usage.from_event(event)


def test_a_hit_has_no_provider_tokens_and_keeps_the_served_ones() -> None:
    hit = _usage(300, 200, "semantic")
    assert (hit.tokens_in, hit.tokens_out, hit.cached_tokens, hit.cache_hit) == (0, 0, 500, True)
    miss = _usage(300, 200, "miss")
    assert (miss.tokens_in, miss.tokens_out, miss.cached_tokens, miss.cache_hit) == (300, 200, 0, False)
    bypass = _usage(300, 200, "bypass")
    assert (bypass.tokens_in, bypass.cache_hit, bypass.cache_status) == (300, False, "bypass")
    legacy = _usage(300, 200, None)  # an event from before the cache
    assert (legacy.tokens_in, legacy.cache_status, legacy.cache_hit) == (300, None, False)
    assert hit.event_id != miss.event_id != event_id(USAGE_RECORDED, "x")


def test_hits_cost_the_fee_and_leave_the_allowance_alone() -> None:
    start = MeterStart(used_tokens=0, running_charge_minor=Decimal(0), balance_minor=1000)
    usages = [_usage(800, 400, "exact"), _usage(800, 400, "miss"), _usage(50, 50, "semantic"), _usage(0, 100, None)]
    out = meter_usages(_plan("0.5"), CATALOGUE, start, usages)
    # The miss takes the allowance (800 in + 200 out), 200 out over at 15/1000 = 3; the last one 100 x 15/1000 = 1.5.
    assert [line.charge_minor for line in out.lines] == [Decimal("0.5"), Decimal(3), Decimal("0.5"), Decimal("1.5")]
    assert [line.cache_hit_fee_minor for line in out.lines] == [Decimal("0.5"), 0, Decimal("0.5"), 0]
    assert [(line.included_in, line.included_out) for line in out.lines] == [(0, 0), (800, 200), (0, 0), (0, 0)]
    assert out.used_tokens == 1300  # provider tokens only
    assert out.total_charge_minor == Decimal("5.5")
    assert out.counters == {
        ("chat", "requests"): 4,
        ("chat", "cache_hits_exact"): 1,
        ("chat", "cache_hits_semantic"): 1,
        ("chat", "cached_tokens"): 1300,
        ("chat", "tokens_in"): 800,
        ("chat", "tokens_out"): 500,
    }
    # Debits follow whole cents of the running charge: 0.5, 3.5, 4, 5.5 -> 0, 3, 1, 1.
    assert [d.amount_minor for d in out.debits] == [-3, -1, -1]
    assert out.balance_minor == 995
    # Soft limits follow provider tokens: the miss (0 -> 1200) crosses 50 % and 100 % of 1000; the hit before it
    # (1200 tokens served) crossed nothing.
    assert out.crossings == [(50, 1200), (100, 1200)]


def test_the_fee_is_the_plans() -> None:
    start = MeterStart(0, Decimal(0), 0)
    hits = [_usage(10, 10, "exact"), _usage(10, 10, "semantic")]
    assert meter_usages(_plan("0"), CATALOGUE, start, hits).total_charge_minor == 0
    assert meter_usages(_plan("2.25"), CATALOGUE, start, hits).total_charge_minor == Decimal("4.5")


def test_cache_hit_lines_one_per_kind_and_fee_rounded_half_up() -> None:
    groups = [
        CacheHitGroup("exact", Decimal("0.5"), 3),
        CacheHitGroup("semantic", Decimal("0.5000000000"), 1),  # numeric(20, 10) as Postgres returns it
        CacheHitGroup("semantic", Decimal("0.50"), 2),
        CacheHitGroup("exact", Decimal("0.02"), 0),
    ]
    lines = cache_hit_lines(groups)
    assert [
        (ln.kind, ln.meter, ln.quantity, ln.overage_units, ln.unit_amount_minor, ln.amount_minor) for ln in lines
    ] == [
        ("cache_hits", "cache_hits_exact", 3, 3, Decimal("0.5"), 2),  # 1.5 -> 2
        ("cache_hits", "cache_hits_semantic", 3, 3, Decimal("0.5"), 2),
    ]
    assert all(ln.tier is None and ln.included_units == 0 for ln in lines)
    assert lines[0].description == "exact cache hits: 3 answered from the cache, per hit"


@given(
    st.lists(st.tuples(st.sampled_from(["exact", "semantic"]), st.integers(0, 10_000)), max_size=8),
    st.decimals(min_value=0, max_value=100, places=4),
)
def test_cache_hit_lines_count_every_hit_once(groups: list[tuple[str, int]], fee: Decimal) -> None:
    lines = cache_hit_lines(CacheHitGroup(status, fee, hits) for status, hits in groups)
    assert sum(line.quantity for line in lines) == sum(hits for _, hits in groups)
    for line in lines:
        exact_amount = Decimal(line.quantity) * fee
        assert abs(Decimal(line.amount_minor) - exact_amount) <= Decimal("0.5")
