"""Metering's values: a usage event as billing reads it, the metered event it writes, a period's usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property

from pydantic import Field

from aiaas.errors import BadRequest
from aiaas.events import EventEnvelope, event_id
from aiaas.events.schemas import USAGE_METERED, UsageRecorded
from billing.plans.schemas import CURRENCY_DOC, DECIMAL_DOC, ResponseBody, decimal_text

__all__ = [
    "CACHE_HITS",
    "Usage",
    "MeteredPeriod",
    "MeteredEvent",
    "ModelUsage",
    "CacheUsage",
    "PeriodUsage",
    "parse_period",
    "UsageOut",
    "usage_json",
]


CACHE_HITS = frozenset({"exact", "semantic"})


@dataclass(frozen=True)
class Usage:
    """The part of a usage.recorded event billing needs.

    `tokens_in`/`tokens_out` are provider tokens: a cache hit (cache_status exact or semantic) reached no
    provider, so it has none; the tokens of the cached answer it served are `cached_tokens`.
    """

    event_id: uuid.UUID
    model_alias: str
    tokens_in: int
    tokens_out: int
    occurred_at: datetime
    trace: dict[str, str]
    cache_status: str | None = None
    cached_tokens: int = 0

    @property
    def cache_hit(self) -> bool:
        return self.cache_status in CACHE_HITS

    @classmethod
    def from_event(cls, event: EventEnvelope) -> Usage:
        usage = UsageRecorded.model_validate(event.data)
        if usage.cache_status in CACHE_HITS:
            served = usage.tokens_in + usage.tokens_out
            return cls(event.id, usage.model_alias, 0, 0, event.occurred_at, event.trace, usage.cache_status, served)
        return cls(
            event.id,
            usage.model_alias,
            usage.tokens_in,
            usage.tokens_out,
            event.occurred_at,
            event.trace,
            usage.cache_status,
        )


@dataclass(frozen=True)
class MeteredPeriod:
    """What every metered event of one tenant's batch shares; its texts are formatted once per batch."""

    tenant_id: uuid.UUID
    period_start: datetime
    currency: str
    metered_at: datetime

    @cached_property
    def tenant_text(self) -> str:
        return str(self.tenant_id)

    @cached_property
    def period_text(self) -> str:
        return self.period_start.isoformat()

    @cached_property
    def metered_at_text(self) -> str:
        return self.metered_at.isoformat()


@dataclass(frozen=True)
class MeteredEvent:
    """One billing.usage.metered event."""

    period: MeteredPeriod
    usage: Usage
    tier: str
    charge_minor: Decimal

    @property
    def id(self) -> uuid.UUID:
        return event_id(USAGE_METERED, str(self.usage.event_id))

    def payload(self, charge_text: str | None = None) -> dict[str, object]:
        """The envelope as a JSON-ready dict, built without pydantic (the meter's hot path).

        Same shape as `EventEnvelope(data=UsageMetered(...).model_dump(mode="json"))`; test_metering checks
        that the stored payloads validate against both models.
        """
        return {
            "id": self.id,
            "type": USAGE_METERED,
            "tenant_id": self.period.tenant_text,
            "occurred_at": self.period.metered_at_text,
            "trace": self.usage.trace,
            "data": {
                "source_event_id": self.usage.event_id,
                "period_start": self.period.period_text,
                "model_alias": self.usage.model_alias,
                "tier": self.tier,
                "tokens_in": self.usage.tokens_in,
                "tokens_out": self.usage.tokens_out,
                "requests": 1,
                "currency": self.period.currency,
                "charge_minor": charge_text if charge_text is not None else format(self.charge_minor, "f"),
                "cache_status": self.usage.cache_status,
                "cached_tokens": self.usage.cached_tokens,
            },
        }


@dataclass(frozen=True)
class ModelUsage:
    model_alias: str
    tier: str
    tokens_in: int
    tokens_out: int
    requests: int
    cache_hits_exact: int = 0
    cache_hits_semantic: int = 0
    cached_tokens: int = 0

    @property
    def cache_hits(self) -> int:
        return self.cache_hits_exact + self.cache_hits_semantic


@dataclass(frozen=True)
class CacheUsage:
    """A period's cache hits: how many of each kind, the tokens they served (provider tokens saved), their fees."""

    exact_hits: int
    semantic_hits: int
    cached_tokens: int
    charge_minor: Decimal


@dataclass(frozen=True)
class PeriodUsage:
    period_start: datetime
    period_end: datetime | None
    is_current: bool
    plan: str
    included_tokens: int
    models: list[ModelUsage]
    tokens_in: int
    tokens_out: int
    requests: int
    currency: str
    # Overage charge metered so far (minor units of `currency`, unrounded); the invoice rounds per line.
    charge_minor: Decimal
    cache: CacheUsage


def parse_period(value: str | None) -> date | None:
    """None for the open period ('current' or absent), else the start date (YYYY-MM-DD) of a past one."""
    if value is None or value == "current":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "period must be 'current' or the start date of a billing period as YYYY-MM-DD.",
            code="invalid_period",
            param="period",
        ) from None


class ModelUsageOut(ResponseBody):
    model_alias: str
    tier: str
    tokens_in: int = Field(description="Provider input tokens (cache hits have none)")
    tokens_out: int = Field(description="Provider output tokens (cache hits have none)")
    requests: int = Field(description="Requests served, cache hits included")
    cache_hits: int = Field(description="Requests answered from the cache (exact or semantic)")


class CacheUsageOut(ResponseBody):
    exact_hits: int
    semantic_hits: int
    hits: int = Field(description="exact_hits + semantic_hits")
    cached_tokens: int = Field(description="Tokens of the cached answers served: provider tokens the hits saved")
    charge_minor: str = Field(
        description=f"What the hits cost at the plan's fee per hit: minor units (cents) of `currency`, {DECIMAL_DOC}"
    )


class UsageTotalsOut(ResponseBody):
    tokens_in: int
    tokens_out: int
    tokens: int
    requests: int


class UsageOut(ResponseBody):
    period_start: str
    period_end: str | None
    current: bool
    plan: str
    included_tokens: int
    models: list[ModelUsageOut]
    totals: UsageTotalsOut = Field(description="Token and request counts of the period (no money)")
    currency: str = Field(description=CURRENCY_DOC)
    overage_charge_minor: str = Field(
        description=f"Overage metered so far in minor units (cents) of `currency`, unrounded {DECIMAL_DOC}"
        " (cache hit fees included)"
    )
    cache: CacheUsageOut = Field(description="Cache hits of the period: counted and priced on their own, not as tokens")


def usage_json(usage: PeriodUsage) -> dict[str, object]:
    return {
        "period_start": usage.period_start.isoformat(),
        "period_end": usage.period_end.isoformat() if usage.period_end else None,
        "current": usage.is_current,
        "plan": usage.plan,
        "included_tokens": usage.included_tokens,
        "models": [
            {
                "model_alias": m.model_alias,
                "tier": m.tier,
                "tokens_in": m.tokens_in,
                "tokens_out": m.tokens_out,
                "requests": m.requests,
                "cache_hits": m.cache_hits,
            }
            for m in usage.models
        ],
        "totals": {
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "tokens": usage.tokens_in + usage.tokens_out,
            "requests": usage.requests,
        },
        "currency": usage.currency,
        "overage_charge_minor": decimal_text(usage.charge_minor),
        "cache": {
            "exact_hits": usage.cache.exact_hits,
            "semantic_hits": usage.cache.semantic_hits,
            "hits": usage.cache.exact_hits + usage.cache.semantic_hits,
            "cached_tokens": usage.cache.cached_tokens,
            "charge_minor": decimal_text(usage.cache.charge_minor),
        },
    }
