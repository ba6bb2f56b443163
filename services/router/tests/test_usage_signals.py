"""Usage events teach the bandit cost and latency (issue 14: "updated online from usage events (cost, errors,
latency)"), through the real consumer on the private NATS:

- cost: when the cheap tier's requests cost 4x their estimate in one context (and the strong tier's 1x), that
  context's requests move to the strong tier (reason `bandit`) while another context stays cheap; redelivered
  usage events change nothing; a cost that arrives before its decision counts when the decision lands; a restarted
  router decides the same;
- latency: with a latency objective, a slower routed request is one failure of its decision (redelivered: still
  one), no misroute; a faster one, or a tenant without an objective, nothing;
- the policy API shows and validates `latency_slo_ms`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import nats
import pytest

from aiaas.events import EventEnvelope, EventPublisher, event_id
from aiaas.events.schemas import ROUTER_DECISION_MADE, RouterDecisionMade
from aiaas_testing import NatsServer, TenantWithKey, metric_value, scrape_metrics, wait_for
from aiaas_testing.events import usage_recorded

from .factories import MATH_PROMPTS, WRITING_PROMPTS, RouterProcess, body, decide, policy, put_policy

Arms = dict[tuple[str, str], dict[str, float]]

# Tiers close in price, so what a tier really costs decides: with the constant model (cheap 0.85, strong 0.95),
# lambda 0.01 and 275 expected tokens, cheap scores 0.0015 + 0.000825 m against strong's 0.0005 + 0.00275 (m = 1):
# cheap wins while its cost factor m stays below ~2.12.
COST_POLICY = policy(
    tiers=[
        {"name": "cheap", "alias": "gpt-4o-mini", "price_usd_per_1k": 0.003},
        {"name": "strong", "alias": "gpt-4o", "price_usd_per_1k": 0.01},
    ],
    **{"lambda": 0.01, "early_exit_bar": 1.0, "exploration_cap": 0.0},
)


async def _arms(http: aiohttp.ClientSession, url: str, tenant: TenantWithKey) -> Arms:
    async with http.get(f"{url}/v1/router/bandit", headers=tenant.auth) as resp:
        assert resp.status == 200
        rows = (await resp.json())["data"]
    return {
        (r["context_key"], r["tier"]): {
            "successes": r["successes"],
            "failures": r["failures"],
            "cost_ratio_sum": r["metered_ratio_sum"],
            "cost_observations": r["metered_count"],
        }
        for r in rows
    }


def _arm(arms: Arms, context: str, tier: str) -> dict[str, float]:
    return arms.get((context, tier), {"successes": 0, "failures": 0, "cost_ratio_sum": 0, "cost_observations": 0})


@pytest.fixture
async def publisher(private_nats: NatsServer) -> AsyncIterator[EventPublisher]:
    nc = await nats.connect(private_nats.url)
    try:
        yield EventPublisher(nc.jetstream(), timeout_s=10)
    finally:
        await nc.close()


def _usage(tenant: TenantWithKey, decision: dict[str, Any], **fields: Any) -> EventEnvelope:
    """The gateway's usage event of a request the router routed (`decision`: the decide reply)."""
    return usage_recorded(
        tenant.id,
        tenant.key_id,
        model=decision["model"],
        request_id=f"req-{uuid.uuid4().hex}",
        extra={
            "router_decision_id": decision["decision_id"],
            "router_tier": decision["tier"],
            "router_reason": decision["reason"],
        },
        **fields,
    )


def _times(decision: dict[str, Any], factor: int) -> str:
    """`factor` x the decision's estimated cost, as the decimal string the gateway writes."""
    return format(Decimal(str(decision["expected_cost_usd"])) * factor, "f")


async def _replay(publisher: EventPublisher, events: list[EventEnvelope]) -> None:
    """Redeliver past JetStream's duplicate window: the same events under fresh message ids."""
    for event in events:
        await publisher.publish_raw(event.subject, event.to_json(), {"Nats-Msg-Id": f"replay-{uuid.uuid4()}"})


async def test_metered_costs_move_a_context_to_the_tier_that_is_cheaper_in_fact(
    start_router: Callable[..., RouterProcess],
    consumer: str,
    publisher: EventPublisher,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    router = start_router("cost")
    tenant = await make_tenant()
    async with http.put(f"{router.url}/v1/router/policy", json=COST_POLICY, headers=tenant.auth) as resp:
        assert resp.status == 200, await resp.text()
    learn, check = MATH_PROMPTS[:4], MATH_PROMPTS[20]
    cheap = [await decide(http, router.url, tenant.auth, body(p)) for p in learn]
    assert {(d["tier"], d["reason"]) for d in cheap} == {("cheap", "classifier")}
    # A prompt of the same shape as `check` (same tokens); `check` itself is asked only once the costs are known
    # (a stronger decision on the same messages would be a retry: a failure of the first).
    before = await decide(http, router.url, tenant.auth, body(MATH_PROMPTS[19]))
    assert (before["tier"], before["reason"]) == ("cheap", "classifier")
    strong = [await decide(http, router.url, tenant.auth, body(p, candidates=["strong"])) for p in MATH_PROMPTS[4:6]]
    assert {d["tier"] for d in strong} == {"strong"}
    writing = [await decide(http, router.url, tenant.auth, body(p)) for p in WRITING_PROMPTS[:4]]
    assert {(d["tier"], d["reason"]) for d in writing} == {("cheap", "classifier")}

    # The gateway's usage events: the cheap tier cost 4x its estimate on math and 1x on writing, the strong tier 1x.
    # Cheap's overall factor (5 + 20) / (5 + 8) = 1.92; math's (5 * 1.92 + 16) / (5 + 4) = 2.85 and writing's
    # (5 * 1.92 + 4) / (5 + 4) = 1.51 (router/bandit/rules.py): math goes strong, writing stays cheap.
    events = [_usage(tenant, d, cost_usd=_times(d, 4)) for d in cheap]
    events += [_usage(tenant, d, cost_usd=_times(d, 1)) for d in strong + writing]
    for event in events:
        await publisher.publish(event)

    async def learned() -> Arms | None:
        arms = await _arms(http, router.url, tenant)
        done = _arm(arms, "math", "cheap")["cost_observations"] == 4
        done = done and _arm(arms, "writing", "cheap")["cost_observations"] == 4
        return arms if done and _arm(arms, "math", "strong")["cost_observations"] == 2 else None

    arms = await wait_for(learned, timeout_s=30)
    assert _arm(arms, "math", "cheap")["cost_ratio_sum"] == pytest.approx(16.0)
    assert _arm(arms, "writing", "cheap")["cost_ratio_sum"] == pytest.approx(4.0)
    assert _arm(arms, "math", "strong")["cost_ratio_sum"] == pytest.approx(2.0)
    # A cost is neither a success nor a failure.
    assert {(a["successes"], a["failures"]) for a in arms.values()} == {(0, 0)}

    after = await decide(http, router.url, tenant.auth, body(check))
    assert (after["tier"], after["reason"]) == ("strong", "bandit")
    # The reported estimate stays the unadjusted one (price x expected tokens).
    assert after["expected_cost_usd"] == pytest.approx(before["expected_cost_usd"] * 0.01 / 0.003)
    other = await decide(http, router.url, tenant.auth, body(WRITING_PROMPTS[4]))
    assert (other["tier"], other["reason"]) == ("cheap", "classifier")

    # Redeliveries change nothing; a new writing cost behind them is the marker that they were handled.
    await _replay(publisher, events)
    await publisher.publish(_usage(tenant, other, cost_usd=_times(other, 1)))

    async def marker() -> Arms | None:
        now = await _arms(http, router.url, tenant)
        return now if _arm(now, "writing", "cheap")["cost_observations"] == 5 else None

    replayed = await wait_for(marker, timeout_s=30)
    assert {k: v for k, v in replayed.items() if k[0] == "math"} == {k: v for k, v in arms.items() if k[0] == "math"}
    assert _arm(replayed, "writing", "cheap")["cost_ratio_sum"] == pytest.approx(5.0)

    # A cost that arrives before its decision waits, and counts when the decision lands.
    early = {"decision_id": str(uuid.uuid4()), "model": "gpt-4o-mini", "tier": "cheap", "reason": "classifier"}
    early_event = _usage(tenant, early, cost_usd="0.004")
    await publisher.publish(early_event)
    second = await decide(http, router.url, tenant.auth, body(WRITING_PROMPTS[5]))
    await publisher.publish(_usage(tenant, second, cost_usd=_times(second, 1)))

    async def second_marker() -> Arms | None:
        now = await _arms(http, router.url, tenant)
        return now if _arm(now, "writing", "cheap")["cost_observations"] == 6 else None

    waiting = await wait_for(second_marker, timeout_s=30)
    assert _arm(waiting, "math", "cheap") == _arm(arms, "math", "cheap")  # stored, not counted: no decision yet
    decision = RouterDecisionMade(
        decision_id=uuid.UUID(early["decision_id"]),
        tier="cheap",
        model="gpt-4o-mini",
        reason="classifier",
        router_version="test-constant",
        canary=False,
        allowed=["cheap", "strong"],
        stronger_allowed=True,
        p_success={"cheap": 0.85, "strong": 0.95},
        expected_cost_usd=0.001,
        latency_ms=1.0,
        context_key="math",
        conversation_key="c" * 64,
        request_hash="d" * 64,
    )
    await publisher.publish(
        EventEnvelope(
            id=event_id(ROUTER_DECISION_MADE, early["decision_id"]),
            type=ROUTER_DECISION_MADE,
            tenant_id=tenant.id,
            data=decision.model_dump(mode="json"),
        )
    )

    async def landed() -> Arms | None:
        now = await _arms(http, router.url, tenant)
        return now if _arm(now, "math", "cheap")["cost_observations"] == 5 else None

    final = await wait_for(landed, timeout_s=30)
    assert _arm(final, "math", "cheap")["cost_ratio_sum"] == pytest.approx(20.0)  # 16 + 0.004 / 0.001

    # A restarted router reads the same state from Postgres and decides the same.
    router.process.stop()
    restarted = start_router("cost-restarted")
    again = await decide(http, restarted.url, tenant.auth, body(check))
    assert (again["tier"], again["reason"]) == ("strong", "bandit")
    assert await _arms(http, restarted.url, tenant) == final


async def test_a_request_slower_than_the_latency_objective_fails_its_decision_once(
    router: RouterProcess,
    consumer: str,
    publisher: EventPublisher,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    async def counts() -> tuple[float, float]:
        samples = await scrape_metrics(consumer)
        return (
            metric_value(samples, "router_rewards_total", version="test-constant", source="latency"),
            metric_value(samples, "router_misroutes_total", version="test-constant"),
        )

    latency_before, misroutes_before = await counts()
    with_slo, without = await make_tenant(), await make_tenant()
    await put_policy(http, router.url, with_slo.auth, latency_slo_ms=1000)
    await put_policy(http, router.url, without.auth)
    # Cheap (early exit, a stronger tier allowed): a failure would be a misroute if it were about quality.
    slow, fast, marked = [
        await decide(http, router.url, with_slo.auth, body(p)) for p in (*WRITING_PROMPTS[:2], MATH_PROMPTS[0])
    ]
    assert {d["tier"] for d in (slow, fast, marked)} == {"cheap"}
    slow_event = _usage(with_slo, slow, latency_ms=5000.0)
    await publisher.publish(slow_event)

    async def failed_once() -> Arms | None:
        arms = await _arms(http, router.url, with_slo)
        return arms if _arm(arms, "writing", "cheap")["failures"] == 1 else None

    await wait_for(failed_once, timeout_s=30)
    # Redelivered twice, a fast request, then a usage error as the marker that all of them were handled.
    await _replay(publisher, [slow_event, slow_event])
    await publisher.publish(_usage(with_slo, fast, latency_ms=200.0))
    other_slow = await decide(http, router.url, without.auth, body(WRITING_PROMPTS[3]))
    other_marked = await decide(http, router.url, without.auth, body(MATH_PROMPTS[1]))
    await publisher.publish(_usage(without, other_slow, latency_ms=60_000.0))
    for tenant, decision in ((with_slo, marked), (without, other_marked)):
        await publisher.publish(_usage(tenant, decision, status="error"))

    async def markers() -> tuple[Arms, Arms] | None:
        mine, theirs = await _arms(http, router.url, with_slo), await _arms(http, router.url, without)
        done = _arm(mine, "math", "cheap")["failures"] == 1 and _arm(theirs, "math", "cheap")["failures"] == 1
        return (mine, theirs) if done else None

    result = await wait_for(markers, timeout_s=30)
    assert result is not None
    mine, theirs = result
    assert _arm(mine, "writing", "cheap")["failures"] == 1  # the slow one, once; the fast one nothing
    assert _arm(mine, "writing", "cheap")["cost_observations"] == 2  # both served requests' costs, once each
    assert _arm(theirs, "writing", "cheap")["failures"] == 0  # no objective: a minute is no failure
    # One latency failure, no misroute for it (the two usage errors of the markers are misroutes).
    latency_after, misroutes_after = await wait_for(lambda: _settled(counts, misroutes_before + 2), timeout_s=10)
    assert latency_after - latency_before == 1
    assert misroutes_after - misroutes_before == 2


async def _settled(
    counts: Callable[[], Awaitable[tuple[float, float]]], misroutes: float
) -> tuple[float, float] | None:
    """The consumer records its metrics right after its commit: wait for the markers' misroutes to show."""
    now = await counts()
    return now if now[1] >= misroutes else None


async def test_the_policy_api_shows_and_validates_the_latency_objective(
    router: RouterProcess, make_tenant: Callable[..., Awaitable[TenantWithKey]], http: aiohttp.ClientSession
) -> None:
    tenant = await make_tenant()
    url = f"{router.url}/v1/router/policy"
    async with http.get(url, headers=tenant.auth) as resp:
        assert resp.status == 200
        assert (await resp.json())["latency_slo_ms"] is None  # the platform default: off
    await put_policy(http, router.url, tenant.auth, latency_slo_ms=2500)
    async with http.get(url, headers=tenant.auth) as resp:
        mine = await resp.json()
    assert (mine["source"], mine["latency_slo_ms"]) == ("tenant", 2500)
    for bad in (0, -5, 1.5, "fast", 10**12, [1000]):
        async with http.put(url, json=policy(latency_slo_ms=bad), headers=tenant.auth) as resp:
            data = await resp.json()
            assert resp.status == 422, data
            assert set(data) == {"error"} and {"type", "code", "message"} <= set(data["error"])
    await put_policy(http, router.url, tenant.auth)  # every field replaced: no objective again
    async with http.get(url, headers=tenant.auth) as resp:
        assert (await resp.json())["latency_slo_ms"] is None
