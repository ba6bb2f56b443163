"""All SQL of the KPI endpoints. Tenant isolation comes from RLS (the caller's session), not from here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.kpis.query import KpiQuery

__all__ = ["rollup_rows", "router_tier_rows", "billing_counts"]

# `tenant` is the platform admin's optional filter; tenant sessions pass None and RLS narrows the rows.
_ROLLUPS = text(
    """
    select tenant_id, bucket, model_alias, api_key_id, requests, succeeded, errored, cancelled,
           tokens_in, tokens_out, cost_usd, cache_hits, cache_observed, cache_semantic_hits, cache_tokens_saved,
           latency_sketch, ttft_sketch
    from analytics_usage_rollups
    where granularity = :granularity and bucket >= :start and bucket < :end
      and (cast(:model as text) is null or model_alias = cast(:model as text))
      and (cast(:key as uuid) is null or api_key_id = cast(:key as uuid))
      and (cast(:tenant as uuid) is null or tenant_id = cast(:tenant as uuid))
    order by bucket
    """
)
_ROUTER_TIERS = text(
    """
    select tier, reason, sum(requests) as requests
    from analytics_router_tiers
    where granularity = :granularity and bucket >= :start and bucket < :end
      and (cast(:model as text) is null or model_alias = cast(:model as text))
      and (cast(:key as uuid) is null or api_key_id = cast(:key as uuid))
      and (cast(:tenant as uuid) is null or tenant_id = cast(:tenant as uuid))
    group by tier, reason
    """
)
_BILLING = text(
    """
    select event_type, sum(events) as events
    from analytics_billing_event_counts
    where day >= :first_day and day <= :last_day
      and (cast(:tenant as uuid) is null or tenant_id = cast(:tenant as uuid))
    group by event_type
    order by event_type
    """
)


async def rollup_rows(session: AsyncSession, query: KpiQuery, tenant_id: uuid.UUID | None = None) -> Sequence[Row]:
    params = {
        "granularity": query.granularity,
        "start": query.start,
        "end": query.end,
        "model": query.model,
        "key": query.api_key_id,
        "tenant": tenant_id,
    }
    return (await session.execute(_ROLLUPS, params)).all()


async def router_tier_rows(session: AsyncSession, query: KpiQuery, tenant_id: uuid.UUID | None = None) -> Sequence[Row]:
    """Routed requests of the range per (tier, reason), under the same filters as the rollups."""
    params = {
        "granularity": query.granularity,
        "start": query.start,
        "end": query.end,
        "model": query.model,
        "key": query.api_key_id,
        "tenant": tenant_id,
    }
    return (await session.execute(_ROUTER_TIERS, params)).all()


async def billing_counts(session: AsyncSession, query: KpiQuery, tenant_id: uuid.UUID | None = None) -> dict[str, int]:
    """Billing events by type on the UTC days [start, end) touches."""
    params = {
        "first_day": query.start.date(),
        "last_day": (query.end - timedelta(microseconds=1)).date(),
        "tenant": tenant_id,
    }
    return {row.event_type: int(row.events) for row in await session.execute(_BILLING, params)}
