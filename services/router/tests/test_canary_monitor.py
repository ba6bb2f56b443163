"""The canary monitor on real decisions and rewards (a database of its own), with an injected clock.

Decisions and rewards are written as the router's consumer writes them; the monitor compares the arms over its
window and rolls back (event with the numbers, outbox row, metric, history) or promotes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, create_engine, session_factory
from aiaas.events import EventPublisher
from aiaas.events.schemas import RouterCanaryOutcome
from aiaas_testing import InfraUrls, NatsServer
from router.canary.events import CanaryEvents
from router.canary.rules import Thresholds
from router.canary.service import CanaryMonitor
from router.versions import repository as versions_repo
from router.versions.schemas import ActivateIn, RegisterIn
from router.versions.service import CanaryVerdictNumbers, VersionAdmin

from .canary_factories import Database, constant_artifact, make_tenant_key, throwaway_database

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
WINDOW_S = 300.0


@pytest.fixture(scope="module")
def db(infra_urls: InfraUrls) -> Iterator[Database]:
    with throwaway_database(infra_urls, "monitor") as database:
        yield database


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class Rig:
    sessions: async_sessionmaker[AsyncSession]
    versions: VersionAdmin
    monitor: CanaryMonitor
    clock: Clock
    tenant: uuid.UUID
    events: list[dict[str, Any]]


@pytest.fixture(scope="module")
async def rig(db: Database, private_nats: NatsServer) -> AsyncIterator[Rig]:
    engine = create_engine(db.admin_url, pool_size=2)
    sessions = session_factory(engine)
    tenant, _ = await make_tenant_key(db.admin_url)
    nc = await nats.connect(private_nats.url)
    seen: list[dict[str, Any]] = []

    async def on_message(msg: Any) -> None:
        seen.append(json.loads(msg.data))

    await nc.subscribe("router.canary.>", cb=on_message)
    clock = Clock()
    versions = VersionAdmin(
        sessions, CanaryEvents(EventPublisher(nc.jetstream(), timeout_s=1.0)), default_version="v0", now=clock.now
    )
    monitor = CanaryMonitor(
        sessions,
        versions,
        default_version="v0",
        window_s=WINDOW_S,
        interval_s=3600,
        thresholds=Thresholds(alpha=0.01, misroute_margin=0.02, error_margin=0.01, min_decisions=50),
        now=clock.now,
    )
    yield Rig(sessions, versions, monitor, clock, tenant, seen)
    await nc.drain()
    await engine.dispose()


@dataclass(frozen=True)
class Arm:
    version: str
    canary: bool


async def _decisions(
    rig: Rig,
    arm: Arm,
    count: int,
    *,
    at: datetime,
    cheap: int = 0,
    failures: int = 0,
    fallbacks: int = 0,
    latency_ms: float = 2.0,
) -> None:
    """`count` decisions of `arm` at `at`: the first `cheap` on the cheap tier (a stronger one allowed), of which the
    first `failures` got a failure reward; the last `fallbacks` made by the fallback table."""
    rows, rewards = [], []
    for i in range(count):
        decision = uuid.uuid4()
        tier = "cheap" if i < cheap else "strong"
        rows.append(
            {
                "id": decision,
                "t": rig.tenant,
                "at": at + timedelta(milliseconds=i),
                "v": arm.version,
                "c": arm.canary,
                "tier": tier,
                "reason": "fallback" if i >= count - fallbacks else "classifier",
                "stronger": tier == "cheap",
                "lat": latency_ms,
            }
        )
        if i < failures:
            rewards.append({"t": rig.tenant, "d": decision, "at": at + timedelta(seconds=5)})
    async with admin_session(rig.sessions) as session:
        await session.execute(
            text(
                "insert into router_decisions (id, tenant_id, created_at, router_version, canary, tier, model,"
                " reason, allowed, stronger_allowed, expected_cost_usd, latency_ms, context_key, conversation_key,"
                " request_hash)"
                " values (:id, :t, :at, :v, :c, :tier, 'alias', :reason, array['cheap', 'strong'], :stronger, 0.001,"
                " :lat, 'general', 'conv', 'hash')"
            ),
            rows,
        )
        if rewards:
            await session.execute(
                text(
                    "insert into router_rewards (tenant_id, decision_id, signal_id, outcome, source, created_at)"
                    " values (:t, :d, 'fb-1', 'failure', 'feedback', :at)"
                ),
                rewards,
            )


async def _start(rig: Rig, *, stable: str | None, canary: str, share: float = 0.2) -> None:
    """Register and activate: `stable` (None: the default artifact serves) and `canary` from the clock's now."""
    for version in filter(None, (stable, canary)):
        await rig.versions.register(RegisterIn(artifact=constant_artifact(version, 0.5, 0.9)), "pytest")
    if stable is not None:
        await rig.versions.activate(stable, ActivateIn(mode="stable"), "pytest")
    await rig.versions.activate(canary, ActivateIn(mode="canary", share=share), "pytest")


async def _row(rig: Rig, version: str) -> versions_repo.VersionRow:
    async with admin_session(rig.sessions) as session:
        row = await versions_repo.get_version(session, version)
    assert row is not None
    return row


async def _reset(rig: Rig, minutes: int) -> None:
    """Nothing serves; the clock moves on (each test on its own stretch of time)."""
    async with admin_session(rig.sessions) as session:
        await session.execute(
            text("update router_versions set status = 'retired', share = 0 where status in ('canary', 'stable')")
        )
    rig.clock.at = T0 + timedelta(minutes=minutes)
    rig.events.clear()


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"trigger": "monitor"}) or 0.0


async def test_no_canary_no_verdict(rig: Rig) -> None:
    await _reset(rig, 0)
    assert await rig.monitor.evaluate() is None


async def test_a_canary_that_misroutes_is_rolled_back_with_the_numbers(rig: Rig) -> None:
    await _reset(rig, 10)
    start = rig.clock.at
    stable, canary = f"s-{uuid.uuid4().hex[:6]}", f"bad-{uuid.uuid4().hex[:6]}"
    await _start(rig, stable=stable, canary=canary)
    # Stable: 200 decisions, 60 cheap, 4 of them failed. Canary: 40 so far, all cheap, 16 failed.
    await _decisions(rig, Arm(stable, False), 200, at=start + timedelta(seconds=5), cheap=60, failures=4)
    await _decisions(rig, Arm(canary, True), 40, at=start + timedelta(seconds=5), cheap=40, failures=16)
    rig.clock.at = start + timedelta(seconds=30)
    before = _metric("router_canary_rollbacks_total")

    waiting = await rig.monitor.evaluate()
    assert waiting is not None and waiting.verdict.action == "wait" and not waiting.applied
    assert "50 decisions per arm" in waiting.verdict.reason
    assert (await _row(rig, canary)).status == "canary"

    await _decisions(rig, Arm(canary, True), 20, at=start + timedelta(seconds=40), cheap=20, failures=9)
    rig.clock.at = start + timedelta(seconds=60)
    result = await rig.monitor.evaluate()
    assert result is not None and result.verdict.action == "rollback" and result.applied
    misroute = next(c for c in result.verdict.comparisons if c.metric == "misroute_rate")
    assert (misroute.canary_events, misroute.canary_n, misroute.stable_events, misroute.stable_n) == (25, 60, 4, 200)
    assert misroute.worse and misroute.z > 4 and misroute.p_value < 1e-4
    assert not next(c for c in result.verdict.comparisons if c.metric == "error_rate").worse

    row = await _row(rig, canary)
    assert row.status == "rolled_back" and row.share == 0.0 and row.status_changed_by == "canary-monitor"
    assert row.status_detail["comparisons"][0]["canary_rate"] == pytest.approx(25 / 60)
    assert row.status_changed_at - row.activated_at <= timedelta(seconds=WINDOW_S)  # within one window
    assert (await _row(rig, stable)).status == "stable"
    assert _metric("router_canary_rollbacks_total") == before + 1
    assert REGISTRY.get_sample_value("router_canary_share") == 0.0

    # The event, on NATS and in the outbox (the durable copy), says why.
    assert [e["type"] for e in rig.events] == ["router.canary.rolled_back"]
    data = RouterCanaryOutcome.model_validate(rig.events[0]["data"])
    assert (data.version, data.stable_version, data.trigger, data.share) == (canary, stable, "monitor", 0.2)
    assert data.window_s == WINDOW_S and data.alpha == 0.01 and data.latency is not None
    assert data.comparisons[0].canary_rate == pytest.approx(25 / 60) and data.comparisons[0].stable_rate == 0.02
    assert "misroute_rate" in data.reason
    async with admin_session(rig.sessions) as session:
        subject = (
            await session.execute(
                text("select subject from event_outbox where event_id = :id"), {"id": rig.events[0]["id"]}
            )
        ).scalar_one()
    assert subject == "router.canary.rolled_back.00000000-0000-0000-0000-000000000000"

    # Nothing runs any more: the next look has no canary.
    assert await rig.monitor.evaluate() is None


async def test_a_canary_that_passes_a_full_window_is_promoted(rig: Rig) -> None:
    await _reset(rig, 30)
    start = rig.clock.at
    stable, canary = f"s-{uuid.uuid4().hex[:6]}", f"good-{uuid.uuid4().hex[:6]}"
    await _start(rig, stable=stable, canary=canary)
    await _decisions(rig, Arm(stable, False), 240, at=start + timedelta(seconds=10), cheap=80, failures=6)
    await _decisions(rig, Arm(canary, True), 60, at=start + timedelta(seconds=10), cheap=20, failures=1)
    before = _metric("router_canary_promotions_total")

    rig.clock.at = start + timedelta(seconds=WINDOW_S / 2)
    early = await rig.monitor.evaluate()
    assert early is not None and early.verdict.action == "wait" and "a full window" in early.verdict.reason

    # A full window since activation, the decisions still inside the sliding window.
    rig.clock.at = start + timedelta(seconds=WINDOW_S + 1)
    await _decisions(rig, Arm(stable, False), 10, at=rig.clock.at - timedelta(seconds=30))
    result = await rig.monitor.evaluate()
    assert result is not None and result.verdict.action == "promote" and result.applied
    assert result.window_start == rig.clock.at - timedelta(seconds=WINDOW_S)
    assert (await _row(rig, canary)).status == "stable"
    assert (await _row(rig, stable)).status == "retired"
    assert _metric("router_canary_promotions_total") == before + 1
    assert [e["type"] for e in rig.events] == ["router.canary.promoted"]
    data = RouterCanaryOutcome.model_validate(rig.events[0]["data"])
    assert (data.version, data.stable_version, data.retired_version) == (canary, stable, stable)
    assert {c.metric for c in data.comparisons} == {"misroute_rate", "error_rate", "slow_rate"}
    assert not any(c.worse for c in data.comparisons)


async def test_old_decisions_leave_the_sliding_window(rig: Rig) -> None:
    await _reset(rig, 60)
    start = rig.clock.at
    canary = f"late-{uuid.uuid4().hex[:6]}"
    await _start(rig, stable=None, canary=canary)  # against the default artifact ("v0")
    # A bad start (all misroutes), then, two windows later, a clean stretch.
    await _decisions(rig, Arm(canary, True), 30, at=start + timedelta(seconds=1), cheap=30, failures=30)
    late = start + timedelta(seconds=2 * WINDOW_S)
    await _decisions(rig, Arm("v0", False), 200, at=late, cheap=50, failures=2)
    await _decisions(rig, Arm(canary, True), 60, at=late, cheap=15, failures=0)
    rig.clock.at = late + timedelta(seconds=10)
    result = await rig.monitor.evaluate()
    assert result is not None
    assert result.canary_counts.n == 60 and result.canary_counts.misroutes == 0
    assert result.stable == "v0" and result.stable_counts.n == 200
    assert result.verdict.action == "promote"
    assert (await _row(rig, canary)).status == "stable"
    assert RouterCanaryOutcome.model_validate(rig.events[0]["data"]).retired_version is None


async def test_errors_and_slow_decisions_roll_back_too(rig: Rig) -> None:
    await _reset(rig, 90)
    start = rig.clock.at
    stable = f"s-{uuid.uuid4().hex[:6]}"
    slow, erring = f"slow-{uuid.uuid4().hex[:6]}", f"err-{uuid.uuid4().hex[:6]}"
    await _start(rig, stable=stable, canary=slow)
    await _decisions(rig, Arm(stable, False), 300, at=start + timedelta(seconds=1), latency_ms=2.0)
    await _decisions(rig, Arm(slow, True), 80, at=start + timedelta(seconds=1), latency_ms=40.0)
    rig.clock.at = start + timedelta(seconds=20)
    result = await rig.monitor.evaluate()
    assert result is not None and result.verdict.action == "rollback"
    assert [c.metric for c in result.verdict.comparisons if c.worse] == ["slow_rate"]
    assert result.verdict.latency.canary_p95_ms == pytest.approx(40.0)
    assert result.verdict.latency.stable_p50_ms == pytest.approx(2.0)

    rig.clock.at = start + timedelta(seconds=30)
    await rig.versions.register(RegisterIn(artifact=constant_artifact(erring, 0.5, 0.9)), "pytest")
    await rig.versions.activate(erring, ActivateIn(mode="canary", share=0.2), "pytest")
    await _decisions(rig, Arm(stable, False), 200, at=rig.clock.at + timedelta(seconds=1))
    await _decisions(rig, Arm(erring, True), 60, at=rig.clock.at + timedelta(seconds=1), fallbacks=30)
    rig.clock.at += timedelta(seconds=20)
    result = await rig.monitor.evaluate()
    assert result is not None and result.verdict.action == "rollback"
    assert [c.metric for c in result.verdict.comparisons if c.worse] == ["error_rate"]


async def test_a_verdict_on_a_run_an_admin_already_ended_changes_nothing(rig: Rig) -> None:
    await _reset(rig, 120)
    canary = f"gone-{uuid.uuid4().hex[:6]}"
    await _start(rig, stable=None, canary=canary)
    row = await _row(rig, canary)
    assert row.activated_at is not None
    await rig.versions.rollback(canary, "admin first", "pytest")
    late = await rig.versions.end_canary(
        canary, row.activated_at, "promoted", "late", CanaryVerdictNumbers(WINDOW_S, 0.01, [], None)
    )
    assert late is None
    assert (await _row(rig, canary)).status == "rolled_back"
