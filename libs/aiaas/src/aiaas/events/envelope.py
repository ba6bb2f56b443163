"""The one event envelope every service publishes and consumes.

`id` is deterministic (uuid5 of the event type and the business key), so a
retried publish is dropped by JetStream's duplicate window and a redelivered
message is recognised by the consumer's unique key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from aiaas import clock

__all__ = ["EventEnvelope", "event_id", "EVENT_NAMESPACE"]

EVENT_NAMESPACE = uuid.UUID("6f1c3f3e-8d0b-4d1e-9a53-2b8f0c7d9e11")


def event_id(event_type: str, *business_key: str) -> uuid.UUID:
    """Deterministic id for an event: the same business fact always gets the same id."""
    return uuid.uuid5(EVENT_NAMESPACE, "/".join((event_type, *business_key)))


class EventEnvelope(BaseModel):
    """id, type, tenant_id, occurred_at, trace context, data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    tenant_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=clock.now)
    trace: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any]

    @property
    def subject(self) -> str:
        """Subject the event is published on: `<type>.<tenant_id>`."""
        return f"{self.type}.{self.tenant_id}"

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> EventEnvelope:
        return cls.model_validate_json(raw)
