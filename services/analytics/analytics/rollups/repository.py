"""All SQL of the read models: applied-event ids, usage rollups, router tier counts, billing counts, and the
rebuild's truncate.

The writers run in a tenant transaction (RLS narrows every statement to that tenant); the rebuild's
statements run as platform_admin, across tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.rollups.buckets import Granularity

__all__ = [
    "lock_tenant",
    "mark_applied",
    "existing_sketches",
    "upsert_rollups",
    "upsert_router_tiers",
    "upsert_billing_counts",
    "truncate_read_models",
    "applied_per_stream",
]

# Advisory-lock namespace of the analytics writers ("ANLY"); the second key is hashtext(tenant id).
_LOCK_NAMESPACE = 0x414E4C59

_LOCK = text("select pg_advisory_xact_lock(:ns, hashtext(:tid))")
_MARK_APPLIED = text(
    "insert into analytics_events_applied (event_id, tenant_id, stream) "
    "select id, cast(:tid as uuid), cast(:stream as text) from unnest(cast(:ids as uuid[])) as t(id) "
    "on conflict (event_id) do nothing returning event_id"
)
_EXISTING = text(
    """
    select r.granularity, r.bucket, r.model_alias, r.api_key_id, r.latency_sketch, r.ttft_sketch
    from analytics_usage_rollups r
    join unnest(cast(:g as text[]), cast(:b as timestamptz[]), cast(:m as text[]), cast(:k as uuid[]))
        as want(g, b, m, k)
      on r.granularity = want.g and r.bucket = want.b and r.model_alias = want.m and r.api_key_id = want.k
    """
)
_UPSERT = text(
    """
    insert into analytics_usage_rollups as r (tenant_id, granularity, bucket, model_alias, api_key_id,
        requests, succeeded, errored, cancelled, tokens_in, tokens_out, cost_usd, cache_hits, cache_observed,
        cache_semantic_hits, cache_tokens_saved, latency_sketch, ttft_sketch)
    select cast(:tid as uuid), * from unnest(
        cast(:g as text[]), cast(:b as timestamptz[]), cast(:m as text[]), cast(:k as uuid[]),
        cast(:requests as bigint[]), cast(:succeeded as bigint[]), cast(:errored as bigint[]),
        cast(:cancelled as bigint[]), cast(:tokens_in as bigint[]), cast(:tokens_out as bigint[]),
        cast(:cost_usd as numeric[]), cast(:cache_hits as bigint[]), cast(:cache_observed as bigint[]),
        cast(:cache_semantic_hits as bigint[]), cast(:cache_tokens_saved as bigint[]),
        cast(:latency as bytea[]), cast(:ttft as bytea[]))
    on conflict (tenant_id, granularity, bucket, model_alias, api_key_id) do update set
        requests = r.requests + excluded.requests,
        succeeded = r.succeeded + excluded.succeeded,
        errored = r.errored + excluded.errored,
        cancelled = r.cancelled + excluded.cancelled,
        tokens_in = r.tokens_in + excluded.tokens_in,
        tokens_out = r.tokens_out + excluded.tokens_out,
        cost_usd = r.cost_usd + excluded.cost_usd,
        cache_hits = r.cache_hits + excluded.cache_hits,
        cache_observed = r.cache_observed + excluded.cache_observed,
        cache_semantic_hits = r.cache_semantic_hits + excluded.cache_semantic_hits,
        cache_tokens_saved = r.cache_tokens_saved + excluded.cache_tokens_saved,
        latency_sketch = excluded.latency_sketch,
        ttft_sketch = excluded.ttft_sketch,
        updated_at = now()
    """
)
_BILLING_UPSERT = text(
    """
    insert into analytics_billing_event_counts as c (tenant_id, event_type, day, events, last_occurred_at)
    select cast(:tid as uuid), * from unnest(
        cast(:types as text[]), cast(:days as date[]), cast(:counts as bigint[]), cast(:last as timestamptz[]))
    on conflict (tenant_id, event_type, day) do update set
        events = c.events + excluded.events,
        last_occurred_at = greatest(c.last_occurred_at, excluded.last_occurred_at)
    """
)
_ROUTER_UPSERT = text(
    """
    insert into analytics_router_tiers as t (tenant_id, granularity, bucket, model_alias, api_key_id, tier, reason,
        requests)
    select cast(:tid as uuid), * from unnest(
        cast(:g as text[]), cast(:b as timestamptz[]), cast(:m as text[]), cast(:k as uuid[]), cast(:tiers as text[]),
        cast(:reasons as text[]), cast(:requests as bigint[]))
    on conflict (tenant_id, granularity, bucket, model_alias, api_key_id, tier, reason) do update set
        requests = t.requests + excluded.requests,
        updated_at = now()
    """
)
_TABLES = (
    "analytics_usage_rollups",
    "analytics_router_tiers",
    "analytics_billing_event_counts",
    "analytics_events_applied",
)
_TRUNCATE = text(f"truncate table {', '.join(_TABLES)}")
_COUNT_APPLIED = text("select stream, count(*) as n from analytics_events_applied group by stream")


async def lock_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialise this tenant's rollup writers until the transaction ends (sketches are merged read-modify-write)."""
    await session.execute(_LOCK, {"ns": _LOCK_NAMESPACE, "tid": str(tenant_id)})


async def mark_applied(
    session: AsyncSession, tenant_id: uuid.UUID, stream: str, ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Record `ids` as applied; returns those that were not applied before."""
    rows = await session.execute(_MARK_APPLIED, {"tid": str(tenant_id), "stream": stream, "ids": list(ids)})
    return {row.event_id for row in rows}


async def existing_sketches(session: AsyncSession, keys: Mapping[str, Sequence[object]]) -> Sequence[Row]:
    """The stored sketches of the cells named by the columns `g`, `b`, `m`, `k` (granularity, bucket, model, key)."""
    return (await session.execute(_EXISTING, dict(keys))).all()


async def upsert_rollups(session: AsyncSession, tenant_id: uuid.UUID, columns: Mapping[str, Sequence[object]]) -> None:
    """Add the counters to the cells (created if new) and replace their sketches with the merged ones."""
    await session.execute(_UPSERT, {"tid": str(tenant_id), **columns})


async def upsert_router_tiers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cells: Mapping[tuple[Granularity, datetime, str, uuid.UUID, str, str], int],
) -> None:
    """Add routed requests per (granularity, bucket, model, key, tier, reason) to the tenant's tier counts."""
    keys = list(cells)
    await session.execute(
        _ROUTER_UPSERT,
        {
            "tid": str(tenant_id),
            "g": [k[0] for k in keys],
            "b": [k[1] for k in keys],
            "m": [k[2] for k in keys],
            "k": [k[3] for k in keys],
            "tiers": [k[4] for k in keys],
            "reasons": [k[5] for k in keys],
            "requests": [cells[k] for k in keys],
        },
    )


async def upsert_billing_counts(
    session: AsyncSession, tenant_id: uuid.UUID, counts: Mapping[tuple[str, date], tuple[int, datetime]]
) -> None:
    """Add `counts` ((type, day) -> (events, last occurred)) to the tenant's billing-event counts."""
    await session.execute(
        _BILLING_UPSERT,
        {
            "tid": str(tenant_id),
            "types": [k[0] for k in counts],
            "days": [k[1] for k in counts],
            "counts": [v[0] for v in counts.values()],
            "last": [v[1] for v in counts.values()],
        },
    )


async def truncate_read_models(session: AsyncSession) -> None:
    """Empty the rollups, the billing counts and the applied ids in one statement (platform_admin)."""
    await session.execute(_TRUNCATE)


async def applied_per_stream(session: AsyncSession) -> dict[str, int]:
    """How many event ids are recorded as applied, per stream (platform_admin)."""
    return {row.stream: int(row.n) for row in await session.execute(_COUNT_APPLIED)}
