"""`router.canary.rolled_back` and `router.canary.promoted`: platform events, staged in the outbox, then published.

A canary decision is about the platform, not a tenant: the envelope's `tenant_id` is the nil UUID
(`PLATFORM_TENANT`), so the subject is `router.canary.<what>.00000000-0000-0000-0000-000000000000`.
The event is written to `event_outbox` in the transaction that changes the version's status (it exists exactly
when the change does) and published right after the commit; if NATS is down the outbox relay publishes it
later. Its id is uuid5(type/version/activated_at): one event per canary run, so a republish is a duplicate.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events.envelope import EventEnvelope, event_id
from aiaas.events.outbox import write_outbox
from aiaas.events.publisher import EventPublisher
from aiaas.events.schemas import ROUTER_CANARY_PROMOTED, ROUTER_CANARY_ROLLED_BACK, RouterCanaryOutcome

__all__ = ["PLATFORM_TENANT", "CanaryEvents", "canary_event", "ROLLBACKS", "PROMOTIONS"]

_log = logging.getLogger(__name__)
PLATFORM_TENANT = uuid.UUID(int=0)
_TYPES = {"rolled_back": ROUTER_CANARY_ROLLED_BACK, "promoted": ROUTER_CANARY_PROMOTED}
# trigger: `monitor` (the canary monitor's verdict) or `admin` (an admin's rollback or promotion).
ROLLBACKS = Counter("router_canary_rollbacks_total", "Canary router versions rolled back", ["trigger"])
PROMOTIONS = Counter("router_canary_promotions_total", "Canary router versions promoted to stable", ["trigger"])


def canary_event(outcome: str, data: RouterCanaryOutcome, *, activated_at: datetime, at: datetime) -> EventEnvelope:
    """The envelope of a canary's end (`outcome` rolled_back or promoted)."""
    event_type = _TYPES[outcome]
    return EventEnvelope(
        id=event_id(event_type, data.version, activated_at.isoformat()),
        type=event_type,
        tenant_id=PLATFORM_TENANT,
        occurred_at=at,
        data=data.model_dump(mode="json"),
    )


class CanaryEvents:
    """Stages canary events in the outbox and publishes them once their transaction committed."""

    def __init__(self, publisher: EventPublisher | None) -> None:
        self._publisher = publisher

    async def stage(self, session: AsyncSession, event: EventEnvelope) -> None:
        await write_outbox(session, event)

    async def publish(self, event: EventEnvelope) -> bool:
        """Count the committed outcome; True when JetStream acked its event, False leaves it to the outbox relay."""
        counter = ROLLBACKS if event.type == ROUTER_CANARY_ROLLED_BACK else PROMOTIONS
        counter.labels(trigger=str(event.data.get("trigger", "admin"))).inc()
        if self._publisher is None:
            return False
        try:
            await self._publisher.publish(event)
        except Exception as exc:  # noqa: BLE001 - the outbox row is the durable copy; the relay publishes it
            _log.warning("%s for %s not published now (the outbox relay will): %r", event.type, event.id, exc)
            return False
        return True
