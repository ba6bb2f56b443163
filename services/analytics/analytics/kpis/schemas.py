"""Response models of the KPI endpoints. Money is a decimal string of US dollars (`*_usd`), never a float."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from analytics.rollups.buckets import Granularity

__all__ = ["Percentiles", "Kpis", "SeriesPoint", "ModelKpis", "ApiKeyKpis", "TenantKpis", "KpiReport", "AdminKpiReport"]


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
        description="cache hits / events that carried a cache-hit flag; null when none did (today's events don't)"
    )


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


class AdminKpiReport(KpiReport):
    tenant_id: uuid.UUID | None
    tenants: list[TenantKpis]
