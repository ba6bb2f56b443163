"""The router's JetStream consumers: "router-decisions" (ROUTER) and "router-rewards" (USAGE).

- router-decisions: `router.decision.made` -> `router_decisions` rows (and the rewards that waited for them);
- router-rewards: `usage.recorded` events that carry a `router_decision_id` (a UUID) -> rewards, each signal id
  derived from the request id (so a redelivered or republished event counts once):
  - status `error`: a failure of that decision (`usage:<request_id>`);
  - status `success` (served by a provider, not the cache): its metered `cost_usd` is a cost signal
    (`cost:<request_id>`: the arm learns the tier's metered / estimated cost), and a `latency_ms` above the
    tenant's latency objective (policy `latency_slo_ms`, else `ROUTER_DEFAULT_LATENCY_SLO_MS`; none = off, read
    when the event is applied) is a failure (`latency:<request_id>`, no misroute). A success says nothing about
    quality and is not counted as one;
  - `cancelled`: skipped.

Each batch is applied in one transaction per tenant (RLS); the runner acks after the commit, and every write is
idempotent, so a redelivery changes nothing. Metrics of applied rewards are recorded after the commit.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import CONSUMERS, ConsumerRunner, EventEnvelope, Received
from aiaas.events.schemas import ROUTER_DECISION_MADE, USAGE_RECORDED
from router.decide.projection import project_decision
from router.feedback.service import Applied, Outcome, Source, record_metrics, record_reward
from router.policy.service import latency_slo

__all__ = ["DECISIONS_CONSUMER", "REWARDS_CONSUMER", "CONSUMER_NAMES", "runners", "apply_decisions", "apply_usage"]

DECISIONS_CONSUMER = "router-decisions"
REWARDS_CONSUMER = "router-rewards"
CONSUMER_NAMES = (DECISIONS_CONSUMER, REWARDS_CONSUMER)


def _by_tenant(events: Sequence[EventEnvelope]) -> dict[uuid.UUID, list[EventEnvelope]]:
    grouped: dict[uuid.UUID, list[EventEnvelope]] = defaultdict(list)
    for event in events:
        grouped[event.tenant_id].append(event)
    return grouped


async def apply_decisions(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[EventEnvelope], *, retry_window_s: float
) -> int:
    """Project the decision events (others are ignored); returns how many rewards that counted."""
    applied: list[Applied] = []
    for tenant_id, batch in _by_tenant([e for e in events if e.type == ROUTER_DECISION_MADE]).items():
        counted: list[Applied] = []
        async with tenant_session(sessions, tenant_id) as session:
            for event in sorted(batch, key=lambda e: e.occurred_at):
                counted += await project_decision(session, event, retry_window_s=retry_window_s)
        applied += counted
    record_metrics(applied)
    return len(applied)


def _decision_id(event: EventEnvelope) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(event.data["router_decision_id"]))
    except ValueError:
        return None  # the gateway's own fallback ids ("gw-...") name no router decision


def _number(value: object) -> float | None:
    """A finite number >= 0 from an event field (a decimal string or a number), else None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return None
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _served(event: EventEnvelope) -> bool:
    """A successful request a provider answered (a cache hit reached none: its cost and latency say nothing)."""
    return event.data.get("status") == "success" and event.data.get("cache_status") not in ("exact", "semantic")


async def _usage_rewards(
    session: AsyncSession, tenant_id: uuid.UUID, batch: Sequence[EventEnvelope], default_slo_ms: int | None
) -> list[Applied]:
    applied: list[Applied] = []
    slo_ms = await latency_slo(session, default_slo_ms) if any(_served(e) for e in batch) else None
    for event in batch:
        decision_id = _decision_id(event)
        if decision_id is None:
            continue
        request = event.data.get("request_id") or event.id
        signals: list[tuple[str, Outcome, Source, float | None]] = []
        if event.data.get("status") == "error":
            signals.append((f"usage:{request}", "failure", "usage", None))
        elif _served(event):
            cost_usd = _number(event.data.get("cost_usd"))
            if cost_usd is not None:
                signals.append((f"cost:{request}", "cost", "cost", cost_usd))
            latency_ms = _number(event.data.get("latency_ms"))
            if slo_ms is not None and latency_ms is not None and latency_ms > slo_ms:
                signals.append((f"latency:{request}", "failure", "latency", None))
        for signal_id, outcome, source, cost in signals:
            result = await record_reward(
                session,
                tenant_id=tenant_id,
                decision_id=decision_id,
                signal_id=signal_id,
                outcome=outcome,
                score=None,
                source=source,
                cost_usd=cost,
            )
            applied += result.applied
    return applied


async def apply_usage(
    sessions: async_sessionmaker[AsyncSession],
    events: Sequence[EventEnvelope],
    *,
    default_latency_slo_ms: int | None = None,
) -> int:
    """Usage of routed requests -> rewards (errors, costs, latency-objective misses); returns how many counted."""
    routed = [
        e
        for e in events
        if e.type == USAGE_RECORDED and e.data.get("router_decision_id") and e.data.get("status") != "cancelled"
    ]
    applied: list[Applied] = []
    for tenant_id, batch in _by_tenant(routed).items():
        async with tenant_session(sessions, tenant_id) as session:
            counted = await _usage_rewards(session, tenant_id, batch, default_latency_slo_ms)
        applied += counted
    record_metrics(applied)
    return len(applied)


def runners(
    js: JetStreamContext,
    sessions: async_sessionmaker[AsyncSession],
    *,
    batch_size: int,
    retry_window_s: float,
    default_latency_slo_ms: int | None = None,
) -> dict[str, ConsumerRunner]:
    """One runner per router consumer, keyed by consumer name."""

    async def on_decisions(batch: Sequence[Received]) -> None:
        await apply_decisions(sessions, [item.event for item in batch], retry_window_s=retry_window_s)

    async def on_usage(batch: Sequence[Received]) -> None:
        await apply_usage(sessions, [item.event for item in batch], default_latency_slo_ms=default_latency_slo_ms)

    return {
        DECISIONS_CONSUMER: ConsumerRunner(js, CONSUMERS[DECISIONS_CONSUMER], on_decisions, batch_size=batch_size),
        REWARDS_CONSUMER: ConsumerRunner(js, CONSUMERS[REWARDS_CONSUMER], on_usage, batch_size=batch_size),
    }
