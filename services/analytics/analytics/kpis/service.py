"""Turns rollup rows into KPIs: counters are summed, sketches merged (percentiles are never averaged)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from analytics.kpis.query import KpiQuery
from analytics.kpis.schemas import (
    AdminKpiReport,
    ApiKeyKpis,
    KpiReport,
    Kpis,
    ModelKpis,
    Percentiles,
    RouterTierKpis,
    SeriesPoint,
    TenantKpis,
)
from analytics.rollups import sketches
from analytics.rollups.buckets import as_utc
from analytics.rollups.rollup import Rollup

__all__ = ["build_report", "build_admin_report", "router_tiers", "TOP_MODELS"]

TOP_MODELS = 10


def _kpis(cell: Rollup) -> dict[str, Any]:
    lat, ttft = sketches.quantiles(cell.latency), sketches.quantiles(cell.ttft)
    return {
        "requests": cell.requests,
        "succeeded": cell.succeeded,
        "errored": cell.errored,
        "cancelled": cell.cancelled,
        "tokens_in": cell.tokens_in,
        "tokens_out": cell.tokens_out,
        "cost_usd": cell.cost_usd,
        "error_rate": cell.errored / cell.requests if cell.requests else None,
        "latency_ms": Percentiles(p50=lat[0], p95=lat[1], p99=lat[2]),
        "ttft_ms": Percentiles(p50=ttft[0], p95=ttft[1], p99=ttft[2]),
        "cache_hit_rate": cell.cache_hits / cell.cache_observed if cell.cache_observed else None,
        "cache_hits": cell.cache_hits,
        "cache_semantic_hits": cell.cache_semantic_hits,
        "cache_tokens_saved": cell.cache_tokens_saved,
    }


@dataclass
class _Grouped:
    total: Rollup = field(default_factory=Rollup)
    by_bucket: dict[datetime, Rollup] = field(default_factory=lambda: defaultdict(Rollup))
    by_model: dict[str, Rollup] = field(default_factory=lambda: defaultdict(Rollup))
    by_key: dict[uuid.UUID, Rollup] = field(default_factory=lambda: defaultdict(Rollup))
    by_tenant: dict[uuid.UUID, Rollup] = field(default_factory=lambda: defaultdict(Rollup))


def _group(rows: Iterable[Row]) -> _Grouped:
    grouped = _Grouped()
    for row in rows:
        latency, ttft = sketches.decode(row.latency_sketch), sketches.decode(row.ttft_sketch)
        for totals in (
            grouped.total,
            grouped.by_bucket[as_utc(row.bucket)],
            grouped.by_model[row.model_alias],
            grouped.by_key[row.api_key_id],
            grouped.by_tenant[row.tenant_id],
        ):
            totals.add_row(row, latency, ttft)
    return grouped


def _ranked(groups: dict[Any, Rollup]) -> list[tuple[Hashable, Rollup]]:
    """Most requests first, then highest cost, then by key for a stable order."""
    return sorted(groups.items(), key=lambda item: (-item[1].requests, -item[1].cost_usd, str(item[0])))


def router_tiers(rows: Iterable[Row]) -> list[RouterTierKpis]:
    """(tier, reason, requests) rows summed, most requests first, with each one's share of the routed requests."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        sums[(row.tier, row.reason)] += int(row.requests)
    total = sum(sums.values())
    ranked = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    return [RouterTierKpis(tier=t, reason=r, requests=n, share=n / total) for (t, r), n in ranked]


def _report_fields(query: KpiQuery, grouped: _Grouped, billing: dict[str, int], tiers: Iterable[Row]) -> dict[str, Any]:
    return {
        "granularity": query.granularity,
        "start": query.start,
        "end": query.end,
        "model": query.model,
        "api_key_id": query.api_key_id,
        "totals": Kpis(**_kpis(grouped.total)),
        "series": [SeriesPoint(bucket=b, **_kpis(t)) for b, t in sorted(grouped.by_bucket.items())],
        "top_models": [ModelKpis(model=str(m), **_kpis(t)) for m, t in _ranked(grouped.by_model)[:TOP_MODELS]],
        "api_keys": [ApiKeyKpis(api_key_id=k, **_kpis(t)) for k, t in _ranked(grouped.by_key)],
        "billing_events": billing,
        "router_tiers": router_tiers(tiers),
    }


def build_report(query: KpiQuery, rows: Iterable[Row], billing: dict[str, int], tiers: Iterable[Row] = ()) -> KpiReport:
    return KpiReport(**_report_fields(query, _group(rows), billing, tiers))


def build_admin_report(
    query: KpiQuery,
    tenant_id: uuid.UUID | None,
    rows: Iterable[Row],
    billing: dict[str, int],
    tiers: Iterable[Row] = (),
) -> AdminKpiReport:
    grouped = _group(rows)
    tenants = [TenantKpis(tenant_id=t, **_kpis(totals)) for t, totals in _ranked(grouped.by_tenant)]
    return AdminKpiReport(**_report_fields(query, grouped, billing, tiers), tenant_id=tenant_id, tenants=tenants)
