"""Typed `data` of each event type; kept in agreement with data-plane/events/*.json by tests."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

__all__ = ["UsageRecorded", "USAGE_RECORDED", "EVENT_DATA_MODELS"]

USAGE_RECORDED = "usage.recorded"
_PLAIN_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class UsageRecorded(BaseModel):
    """What one gateway request used and cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1)
    api_key_id: uuid.UUID
    model_alias: str
    provider: str | None
    deployment: str | None
    upstream_model: str | None
    stream: bool
    status: Literal["success", "error", "cancelled"]
    http_status: int | None
    error_code: str | None
    tokens_in: int = Field(ge=0)
    tokens_out: int = Field(ge=0)
    cost: Decimal = Field(ge=0)
    latency_ms: float = Field(ge=0)
    ttft_ms: float | None = Field(ge=0)
    attempts: int = Field(ge=1)
    started_at: datetime
    completed_at: datetime

    @field_validator("cost", mode="before")
    @classmethod
    def _cost_is_plain_decimal(cls, value: object) -> object:
        # Money never travels as a float or in exponent notation.
        if isinstance(value, float) or (isinstance(value, str) and not _PLAIN_DECIMAL.match(value)):
            raise ValueError("cost must be a plain decimal string")
        return value

    @field_serializer("cost")
    def _cost_as_string(self, cost: Decimal) -> str:
        return format(cost, "f")


EVENT_DATA_MODELS: dict[str, type[BaseModel]] = {USAGE_RECORDED: UsageRecorded}
