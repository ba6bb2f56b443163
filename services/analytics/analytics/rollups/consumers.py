"""The read models' JetStream consumers: "analytics-usage" (USAGE) and "analytics-billing" (BILLING)."""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.events import CONSUMERS, ConsumerRunner, Received
from analytics.rollups.service import apply_billing, apply_usage

__all__ = ["USAGE_CONSUMER", "BILLING_CONSUMER", "CONSUMER_NAMES", "runners"]

USAGE_CONSUMER = "analytics-usage"
BILLING_CONSUMER = "analytics-billing"
CONSUMER_NAMES = (USAGE_CONSUMER, BILLING_CONSUMER)


def runners(
    js: JetStreamContext, sessions: async_sessionmaker[AsyncSession], *, batch_size: int
) -> dict[str, ConsumerRunner]:
    """One runner per analytics consumer, keyed by consumer name."""

    async def on_usage(batch: Sequence[Received]) -> None:
        await apply_usage(sessions, [item.event for item in batch])

    async def on_billing(batch: Sequence[Received]) -> None:
        await apply_billing(sessions, [item.event for item in batch])

    return {
        USAGE_CONSUMER: ConsumerRunner(js, CONSUMERS[USAGE_CONSUMER], on_usage, batch_size=batch_size),
        BILLING_CONSUMER: ConsumerRunner(js, CONSUMERS[BILLING_CONSUMER], on_billing, batch_size=batch_size),
    }
