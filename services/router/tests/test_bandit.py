"""Acceptance 4: quality events teach the bandit. Failures of the cheap tier on math prompts push that domain off
the cheap tier (< 20 %) while another domain stays cheap; replayed feedback and usage events change nothing; a
restarted router keeps the state (Postgres). Also: usage errors and retries on a stronger tier are failures."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import nats
from nats.aio.client import Client as NATS

from aiaas.events import EventEnvelope, EventPublisher
from aiaas_testing import NatsServer, TenantWithKey, metric_value, scrape_metrics, wait_for
from aiaas_testing.events import usage_recorded

from .factories import MATH_PROMPTS, WRITING_PROMPTS, RouterProcess, body, decide, put_policy


async def _arms(
    http: aiohttp.ClientSession, url: str, tenant: TenantWithKey
) -> dict[tuple[str, str], tuple[float, float]]:
    async with http.get(f"{url}/v1/router/bandit", headers=tenant.auth) as resp:
        assert resp.status == 200
        rows = (await resp.json())["data"]
    return {(r["context_key"], r["tier"]): (r["successes"], r["failures"]) for r in rows}


async def _feedback(
    http: aiohttp.ClientSession, url: str, tenant: TenantWithKey, decision_id: str, signal: str
) -> dict[str, Any]:
    payload = {"decision_id": decision_id, "outcome": "failure", "signal_id": signal}
    async with http.post(f"{url}/v1/feedback", json=payload, headers=tenant.auth) as resp:
        data: dict[str, Any] = await resp.json()
        assert resp.status == 200, data
        return data


def _cheap_share(decisions: list[dict[str, Any]]) -> float:
    return sum(1 for d in decisions if d["tier"] == "cheap") / len(decisions)


async def test_math_failures_move_math_off_the_cheap_tier_and_state_survives(
    start_router: Callable[..., RouterProcess],
    consumer: str,
    private_nats: NatsServer,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    router = start_router("bandit")

    async def misroutes() -> float:
        # Feedback counts where its decision is: in the API if the decision was recorded, else in the consumer.
        api, worker = await scrape_metrics(router.metrics_url), await scrape_metrics(consumer)
        return sum(metric_value(m, "router_misroutes_total", version="test-constant") for m in (api, worker))

    misroutes_before = await misroutes()
    tenant = await make_tenant()
    # The platform's default exploration cap (5 %); cheap's 0.85 clears the bar 0.8 until the bandit learns.
    await put_policy(http, router.url, tenant.auth, exploration_cap=0.05, early_exit_bar=0.8)
    learn, check = MATH_PROMPTS[:12], MATH_PROMPTS[12:]
    first = [await decide(http, router.url, tenant.auth, body(p)) for p in learn]
    assert _cheap_share(first) >= 0.8
    failed = [d for d in first if d["tier"] == "cheap"]
    for d in failed:
        assert (await _feedback(http, router.url, tenant, d["decision_id"], "app-1"))["recorded"] is True

    async def counted() -> dict[tuple[str, str], tuple[float, float]] | None:
        arms = await _arms(http, router.url, tenant)
        return arms if arms.get(("math", "cheap"), (0, 0))[1] == len(failed) else None

    arms = await wait_for(counted, timeout_s=30)

    # Each failure had a stronger allowed tier: a misroute of the version, counted once.
    # (the consumer records its metrics right after its commit: waited for, not raced)
    async def misrouted() -> bool:
        return await misroutes() - misroutes_before == len(failed)

    await wait_for(misrouted, timeout_s=10)
    math_after = [await decide(http, router.url, tenant.auth, body(p)) for p in check]
    writing = [await decide(http, router.url, tenant.auth, body(p)) for p in WRITING_PROMPTS[:20]]
    assert _cheap_share(math_after) < 0.2
    assert _cheap_share(writing) >= 0.8
    assert {d["reason"] for d in math_after} <= {"bandit", "explore"}

    # Replays change nothing: the same feedback again, and a usage error event published twice.
    for d in failed:
        assert (await _feedback(http, router.url, tenant, d["decision_id"], "app-1"))["recorded"] is False
    nc: NATS = await nats.connect(private_nats.url)
    try:
        publisher = EventPublisher(nc.jetstream(), timeout_s=10)

        def usage_error(decision: dict[str, Any]) -> EventEnvelope:
            extra = {k: decision[k.removeprefix("router_")] for k in ("router_tier", "router_reason")}
            return usage_recorded(
                tenant.id,
                tenant.key_id,
                model=decision["model"],
                status="error",
                request_id=f"req-{uuid.uuid4().hex}",
                extra={"router_decision_id": decision["decision_id"], **extra},
            )

        async def writing_failures(n: int) -> dict[tuple[str, str], tuple[float, float]] | None:
            now = await _arms(http, router.url, tenant)
            return now if now.get(("writing", "cheap"), (0, 0))[1] == n else None

        event = usage_error(writing[0])
        await publisher.publish(event)
        await wait_for(lambda: writing_failures(1), timeout_s=30)
        # Redeliveries past JetStream's duplicate window (a fresh message id each), then one new error as a marker:
        # the consumer handles them in order, so once the marker counts the replays were handled too.
        for n in range(2):
            await publisher.publish_raw(event.subject, event.to_json(), {"Nats-Msg-Id": f"replay-{n}-{event.id}"})
        await publisher.publish(usage_error(writing[1]))
        arms = await wait_for(lambda: writing_failures(2), timeout_s=30)
    finally:
        await nc.close()
    assert arms is not None and arms[("math", "cheap")][1] == len(failed)

    # A restarted router reads the same state: math stays off the cheap tier.
    router.process.stop()
    restarted = start_router("bandit-restarted")
    again = [await decide(http, restarted.url, tenant.auth, body(p)) for p in check]
    assert [d["tier"] for d in again] == [d["tier"] for d in math_after]
    assert await _arms(http, restarted.url, tenant) == arms


async def test_a_retry_on_a_stronger_tier_fails_the_first_decision(
    router: RouterProcess,
    consumer: str,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    tenant = await make_tenant()
    await put_policy(http, router.url, tenant.auth, exploration_cap=0.0, early_exit_bar=0.8)
    prompt = body("Translate 'see you tomorrow' into German.")
    first = await decide(http, router.url, tenant.auth, prompt)
    assert first["tier"] == "cheap"
    retry = await decide(http, router.url, tenant.auth, {**prompt, "candidates": ["strong"]})
    assert retry["tier"] == "strong"

    async def failed() -> bool:
        return (await _arms(http, router.url, tenant)).get(("translation", "cheap"), (0, 0))[1] == 1

    await wait_for(failed, timeout_s=30)
