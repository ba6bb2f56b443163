"""Acceptance 5: a bad router version (always the cheapest tier) at 20 % canary is rolled back automatically within
one window; a good one is promoted; events and metrics show both.

Real processes on a database of their own and a private NATS: the router API (`python -m router`, versions from
the catalogue), its consumer (`python -m router consume`: decisions into `router_decisions`) and the admin
listener (`python -m router.admin`: the versions API and the canary monitor). The test plays a tenant's app:
it asks for decisions and reports quality — a cheap-tier answer to a hard prompt fails, anything else succeeds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext

from aiaas.events.schemas import RouterCanaryOutcome
from aiaas_testing import (
    InfraUrls,
    NatsServer,
    ServiceProcess,
    free_port,
    metric_value,
    scrape_metrics,
    wait_for,
)

from .canary_factories import Database, constant_artifact, make_tenant_key, throwaway_database

WINDOW_S = 45.0
MIN_DECISIONS = 30
HARD = "Prove that there are infinitely many primes p with p = 4k + 3, step by step, rigorously."
EASY = "Say hello to my colleague Sam in one short sentence."
# Constant artifacts: the good ones prefer the strong tier, the bad one is sure the cheapest always suffices.
GOOD_1 = constant_artifact("good-1", 0.3, 0.95, note="stable")
GOOD_2 = constant_artifact("good-2", 0.3, 0.96, note="a better calibrated twin")
BAD = constant_artifact("bad-cheap", 0.99, 0.99, note="always the cheapest")


@dataclass
class Stack:
    db: Database
    router: str
    admin: str
    admin_metrics: str
    router_metrics: str
    tenant_headers: dict[str, str]
    nats_url: str


@pytest.fixture(scope="module")
def db(infra_urls: InfraUrls) -> Iterator[Database]:
    with throwaway_database(infra_urls, "canary_e2e") as database:
        yield database


@pytest.fixture(scope="module")
def stack(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("canary-e2e")
    nats_server = NatsServer(run_dir / "nats").start()  # its own: the durable consumers see only this run
    _, key = asyncio.run(make_tenant_key(db.admin_url))
    default = run_dir / "router-default.json"
    default.write_text(json.dumps(constant_artifact("default-v0", 0.5, 0.9)))
    port, admin_port, admin_metrics, router_metrics = free_port(), free_port(), free_port(), free_port()
    common = {
        "NATS_URL": nats_server.url,
        "LOG_LEVEL": "WARNING",
        "ROUTER_TRACING": "false",
        "ROUTER_ARTIFACT_PATH": str(default),
    }
    router_env = {
        **common,
        "DATABASE_URL": db.runtime_url,
        "ROUTER_VERSIONS_POLL_S": "0.2",
        "ROUTER_STATE_CACHE_TTL_S": "0",
        "ROUTER_DEFAULT_EXPLORATION_CAP": "0",
        # The versions under test decide, not the bandit: with this prior a tier's p is the artifact's, so the bad
        # version keeps sending hard prompts to the cheap tier (the bandit's own correction is acceptance 4's).
        "ROUTER_PRIOR_STRENGTH": "1000000",
        # A loaded test box must not turn decisions into deadline fallbacks (errors) at random.
        "ROUTER_DECIDE_DEADLINE_MS": "5000",
        "ROUTER_METRICS_PORT": str(router_metrics),
        "ROUTER_CONSUMER_METRICS_PORT": str(free_port()),
        "ROUTER_WAL_DIR": str(run_dir / "wal"),
    }
    admin_env = {
        **common,
        "ADMIN_DATABASE_URL": db.admin_url,
        "ROUTER_ADMIN_METRICS_PORT": str(admin_metrics),
        "ROUTER_CANARY_WINDOW_S": str(WINDOW_S),
        "ROUTER_CANARY_INTERVAL_S": "0.5",
        "ROUTER_CANARY_MIN_DECISIONS": str(MIN_DECISIONS),
        "ROUTER_CANARY_ALPHA": "0.01",
        # Decision latency on a shared test box is noisy: only a gross slowdown counts here.
        "ROUTER_CANARY_SLOW_MARGIN": "0.25",
        "ROUTER_CANARY_LATENCY_FLOOR_MS": "20",
    }
    procs = [
        ServiceProcess(
            ["-m", "router.admin", "--host", "127.0.0.1", "--port", str(admin_port)],
            env=admin_env,
            log_path=run_dir / "admin.log",
            ready_url=f"http://127.0.0.1:{admin_port}/health/ready",
        ),
        ServiceProcess(["-m", "router", "consume"], env=router_env, log_path=run_dir / "consumer.log"),
        ServiceProcess(
            ["-m", "router", "--host", "127.0.0.1", "--port", str(port)],
            env=router_env,
            log_path=run_dir / "router.log",
            ready_url=f"http://127.0.0.1:{port}/health/ready",
        ),
    ]
    started: list[ServiceProcess] = []
    try:
        for proc in procs:
            started.append(proc.start())
        yield Stack(
            db=db,
            router=f"http://127.0.0.1:{port}",
            admin=f"http://127.0.0.1:{admin_port}",
            admin_metrics=f"http://127.0.0.1:{admin_metrics}/metrics",
            router_metrics=f"http://127.0.0.1:{router_metrics}/metrics",
            tenant_headers={"Authorization": f"Bearer {key}"},
            nats_url=nats_server.url,
        )
    finally:
        for proc in reversed(started):
            proc.stop()
        nats_server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _admin(http: aiohttp.ClientSession, stack: Stack, method: str, path: str, body: Any = None) -> dict[str, Any]:
    async with http.request(method, stack.admin + path, json=body, headers=stack.db.admin_headers) as resp:
        data: dict[str, Any] = await resp.json()
        assert resp.status in (200, 201), data
        return data


async def _version(http: aiohttp.ClientSession, stack: Stack, version: str) -> dict[str, Any]:
    return await _admin(http, stack, "GET", f"/admin/router/versions/{version}")


async def _decide_and_report(http: aiohttp.ClientSession, stack: Stack, n: int) -> dict[str, Any]:
    """Conversation `n`: a decision, then the app's verdict on its answer. Returns the decision."""
    prompt = HARD if n % 2 == 0 else EASY
    body = {"messages": [{"role": "user", "content": prompt}], "conversation_key": f"conversation-{n}"}
    async with http.post(f"{stack.router}/v1/router/decide", json=body, headers=stack.tenant_headers) as resp:
        decision: dict[str, Any] = await resp.json()
        assert resp.status == 200, decision
    failed = decision["tier"] == "cheap" and prompt == HARD
    feedback = {
        "decision_id": decision["decision_id"],
        "outcome": "failure" if failed else "success",
        "signal_id": "app-verdict",
    }
    async with http.post(f"{stack.router}/v1/feedback", json=feedback, headers=stack.tenant_headers) as resp:
        assert resp.status == 200, await resp.text()
    return decision


async def _drive_until(
    http: aiohttp.ClientSession, stack: Stack, version: str, status: str, *, start: int, limit: int
) -> list[dict[str, Any]]:
    """Decisions and feedback, conversation after conversation, until `version` has `status` (at most `limit`)."""
    decisions: list[dict[str, Any]] = []
    for n in range(start, start + limit):
        decisions.append(await _decide_and_report(http, stack, n))
        if n % 10 == 0:
            if (await _version(http, stack, version))["status"] == status:
                return decisions
            await asyncio.sleep(0.05)  # a steady stream, not a burst: the window is about time
    raise AssertionError(
        f"{version} is not {status} after {limit} conversations: {await _version(http, stack, version)}"
    )


async def _wait_serving(http: aiohttp.ClientSession, stack: Stack, version: str, conversation: int) -> None:
    for _ in range(200):
        body = {"messages": [{"role": "user", "content": EASY}], "conversation_key": f"conversation-{conversation}"}
        async with http.post(f"{stack.router}/v1/router/decide", json=body, headers=stack.tenant_headers) as resp:
            if (await resp.json()).get("router_version") == version:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the router never served {version}")


async def _last_event(js: JetStreamContext, event_type: str) -> dict[str, Any]:
    msg = await js.get_last_msg("ROUTER", f"{event_type}.00000000-0000-0000-0000-000000000000")
    envelope: dict[str, Any] = json.loads(msg.data)
    return envelope


async def test_bad_canary_is_rolled_back_and_good_canary_is_promoted(http: aiohttp.ClientSession, stack: Stack) -> None:
    for document in (GOOD_1, GOOD_2, BAD):
        await _admin(http, stack, "POST", "/admin/router/versions", {"artifact": document})
    await _admin(http, stack, "POST", "/admin/router/versions/good-1/activate", {"mode": "stable"})
    await _wait_serving(http, stack, "good-1", 0)

    # The bad version on 20 % of conversations.
    await _admin(http, stack, "POST", "/admin/router/versions/bad-cheap/activate", {"mode": "canary", "share": 0.2})
    decisions = await _drive_until(http, stack, "bad-cheap", "rolled_back", start=1, limit=3000)
    on_canary = [d for d in decisions if d["canary"]]
    assert on_canary and all(d["router_version"] == "bad-cheap" and d["tier"] == "cheap" for d in on_canary)
    assert 0.1 < len(on_canary) / len(decisions) < 0.3
    on_stable = [d for d in decisions if not d["canary"]]
    assert all(d["router_version"] == "good-1" for d in on_stable)
    assert sum(d["tier"] == "strong" for d in on_stable) / len(on_stable) > 0.9

    bad = await _version(http, stack, "bad-cheap")
    assert bad["status"] == "rolled_back" and bad["share"] == 0.0 and bad["status_changed_by"] == "canary-monitor"
    activated = datetime.fromisoformat(bad["activated_at"])
    assert datetime.fromisoformat(bad["status_changed_at"]) - activated <= timedelta(seconds=WINDOW_S)
    misroute = next(c for c in bad["status_detail"]["comparisons"] if c["metric"] == "misroute_rate")
    assert misroute["worse"] and misroute["canary_n"] >= MIN_DECISIONS
    assert misroute["canary_rate"] > 0.3 and misroute["stable_rate"] < 0.05 and misroute["p_value"] < 0.01

    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        rolled = await _last_event(js, "router.canary.rolled_back")
        data = RouterCanaryOutcome.model_validate(rolled["data"])
        assert (data.version, data.stable_version, data.trigger, data.share) == ("bad-cheap", "good-1", "monitor", 0.2)
        assert data.comparisons[0].metric == "misroute_rate" and data.comparisons[0].worse
        assert data.window_s == WINDOW_S and data.alpha == 0.01

        samples = await scrape_metrics(stack.admin_metrics)
        assert metric_value(samples, "router_canary_rollbacks_total", trigger="monitor") == 1
        assert metric_value(samples, "router_canary_share") == 0

        # Every conversation is back on the stable version.
        await _wait_serving(http, stack, "good-1", 1 + decisions.index(on_canary[0]))

        # A good version on 20 %: nothing worse over a whole window -> promoted, good-1 retired.
        await _admin(http, stack, "POST", "/admin/router/versions/good-2/activate", {"mode": "canary", "share": 0.2})
        decisions = await _drive_until(http, stack, "good-2", "stable", start=10_000, limit=20_000)
        assert any(d["canary"] and d["router_version"] == "good-2" for d in decisions)
        good = await _version(http, stack, "good-2")
        assert good["status"] == "stable" and good["status_changed_by"] == "canary-monitor"
        assert (await _version(http, stack, "good-1"))["status"] == "retired"
        assert not any(c["worse"] for c in good["status_detail"]["comparisons"])

        promoted = RouterCanaryOutcome.model_validate((await _last_event(js, "router.canary.promoted"))["data"])
        assert (promoted.version, promoted.stable_version, promoted.retired_version) == ("good-2", "good-1", "good-1")
        assert promoted.trigger == "monitor" and {c.metric for c in promoted.comparisons} == {
            "misroute_rate",
            "error_rate",
            "slow_rate",
        }
        samples = await scrape_metrics(stack.admin_metrics)
        assert metric_value(samples, "router_canary_promotions_total", trigger="monitor") == 1
        assert metric_value(samples, "router_canary_rollbacks_total", trigger="monitor") == 1
        await _wait_serving(http, stack, "good-2", 1)

        # The router says what it serves now (its selector re-reads the versions every poll interval).
        async def serving_good_2() -> bool:
            serving = await scrape_metrics(stack.router_metrics)
            return (
                metric_value(serving, "router_version_serving_share", version="good-2", role="stable") == 1.0
                and metric_value(serving, "router_version_loaded", version="good-2") == 1.0
            )

        await wait_for(serving_good_2, timeout_s=30)
    finally:
        await nc.drain()
