"""Response models of the KPI endpoints. Money is a decimal string of US dollars (`*_usd`), never a float."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from analytics.rollups.buckets import Granularity

__all__ = [
    "Percentiles",
    "Kpis",
    "RouterTierKpis",
    "SeriesPoint",
    "ModelKpis",
    "ApiKeyKpis",
    "TenantKpis",
    "KpiReport",
    "AdminKpiReport",
]


class Percentiles(BaseModel):
    """Quantiles from the merged DDSketch of the range (within 1 % of the true value); null without data."""

    p50: float | None
    p95: float | None
    p99: float | None


class Kpis(BaseModel):
    requests: int
    succeeded: int
    errored: int
    cancelled: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal = Field(
        description="Sum of request costs at the gateway catalogue prices: US dollars, as a decimal string"
    )
    error_rate: float | None = Field(description="errored / requests; null without requests")
    latency_ms: Percentiles
    ttft_ms: Percentiles
    cache_hit_rate: float | None = Field(
        description="cache hits / events that said whether the cache answered (cache_status, or the older cache_hit"
        " flag); null when none did"
    )
    cache_hits: int = Field(description="Requests answered from the gateway's cache (exact or semantic)")
    cache_semantic_hits: int = Field(description="Of cache_hits, those answered by a similar earlier question")
    cache_tokens_saved: int = Field(
        description="Tokens of the cached answers served: provider tokens the cache saved (not in tokens_in/out)"
    )


class RouterTierKpis(BaseModel):
    """Requests the router sent to one tier for one reason (`model: "auto"`), and their share of routed requests."""

    tier: str
    reason: str
    requests: int
    share: float = Field(description="requests / routed requests of the range")


class SeriesPoint(Kpis):
    bucket: datetime


class ModelKpis(Kpis):
    model: str


class ApiKeyKpis(Kpis):
    api_key_id: uuid.UUID


class TenantKpis(Kpis):
    tenant_id: uuid.UUID


class KpiReport(BaseModel):
    """KPIs of [start, end) (widened to whole buckets); the series lists only buckets with data."""

    object: Literal["analytics.kpis"] = "analytics.kpis"
    granularity: Granularity
    start: datetime
    end: datetime
    model: str | None
    api_key_id: uuid.UUID | None
    totals: Kpis
    series: list[SeriesPoint]
    top_models: list[ModelKpis]
    api_keys: list[ApiKeyKpis]
    billing_events: dict[str, int] = Field(description="Billing events by type on the UTC days the range touches")
    router_tiers: list[RouterTierKpis] = Field(
        description="Tier distribution of routed requests in the range (most requests first); empty without routing"
    )


class AdminKpiReport(KpiReport):
    tenant_id: uuid.UUID | None
    tenants: list[TenantKpis]
