"""The router's JetStream consumers: "router-decisions" (ROUTER) and "router-rewards" (USAGE).

- router-decisions: `router.decision.made` -> `router_decisions` rows (and the rewards that waited for them);
- router-rewards: `usage.recorded` events that carry a `router_decision_id` -> rewards. An `error` status is a
  failure of that decision (signal id `usage:<request_id>`, so a redelivered or republished event counts once);
  a success says nothing about quality and is not counted; cancelled requests are skipped.

Each batch is applied in one transaction per tenant (RLS); the runner acks after the commit, and every write is
idempotent, so a redelivery changes nothing. Metrics of applied rewards are recorded after the commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import CONSUMERS, ConsumerRunner, EventEnvelope, Received
from aiaas.events.schemas import ROUTER_DECISION_MADE, USAGE_RECORDED
from router.decide.projection import project_decision
from router.feedback.service import Applied, record_metrics, record_reward

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


async def apply_usage(sessions: async_sessionmaker[AsyncSession], events: Sequence[EventEnvelope]) -> int:
    """Usage errors of routed requests -> failure rewards; returns how many the bandit counted."""
    routed = [
        e
        for e in events
        if e.type == USAGE_RECORDED and e.data.get("router_decision_id") and e.data.get("status") == "error"
    ]
    applied: list[Applied] = []
    for tenant_id, batch in _by_tenant(routed).items():
        counted: list[Applied] = []
        async with tenant_session(sessions, tenant_id) as session:
            for event in batch:
                try:
                    decision_id = uuid.UUID(str(event.data["router_decision_id"]))
                except ValueError:
                    continue  # the gateway's own fallback ids ("gw-...") name no router decision
                result = await record_reward(
                    session,
                    tenant_id=tenant_id,
                    decision_id=decision_id,
                    signal_id=f"usage:{event.data.get('request_id') or event.id}",
                    outcome="failure",
                    score=None,
                    source="usage",
                )
                counted += result.applied
        applied += counted
    record_metrics(applied)
    return len(applied)


def runners(
    js: JetStreamContext,
    sessions: async_sessionmaker[AsyncSession],
    *,
    batch_size: int,
    retry_window_s: float,
) -> dict[str, ConsumerRunner]:
    """One runner per router consumer, keyed by consumer name."""

    async def on_decisions(batch: Sequence[Received]) -> None:
        await apply_decisions(sessions, [item.event for item in batch], retry_window_s=retry_window_s)

    async def on_usage(batch: Sequence[Received]) -> None:
        await apply_usage(sessions, [item.event for item in batch])

    return {
        DECISIONS_CONSUMER: ConsumerRunner(js, CONSUMERS[DECISIONS_CONSUMER], on_decisions, batch_size=batch_size),
        REWARDS_CONSUMER: ConsumerRunner(js, CONSUMERS[REWARDS_CONSUMER], on_usage, batch_size=batch_size),
    }
