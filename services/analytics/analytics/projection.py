"""Applies usage and billing events to the read models, exactly once per event id.

One transaction per tenant per batch, under that tenant's RLS context. The event ids
go into `analytics_events_applied` first (`on conflict do nothing returning`): only the
ids that insert change the rollups, so a redelivered or republished event is a no-op.
Usage is aggregated in memory per (granularity, bucket, model, key) before writing.

Sketches are merged on write: a per-tenant advisory lock serialises the (rare) writers of
one tenant, the existing sketches of the touched rows are read, merged in Python with the
batch's, and written back while counters are added in SQL. Reads then merge one sketch
per row of the range instead of one per event.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded, input_names
from analytics import sketches
from analytics.buckets import GRANULARITIES, Granularity, as_utc, floor
from analytics.rollup import COUNTERS, Rollup

__all__ = ["RollupKey", "aggregate_usage", "apply_usage", "apply_billing", "usage_of"]

log = logging.getLogger(__name__)

# Advisory-lock namespace of the analytics writers ("ANLY"); the second key is hashtext(tenant id).
_LOCK_NAMESPACE = 0x414E4C59
# Keys of a usage event the projection reads (current names and the old names they replaced).
_USAGE_INPUT_NAMES = input_names(UsageRecorded)

RollupKey = tuple[Granularity, datetime, str, uuid.UUID]

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
        latency_sketch, ttft_sketch)
    select cast(:tid as uuid), * from unnest(
        cast(:g as text[]), cast(:b as timestamptz[]), cast(:m as text[]), cast(:k as uuid[]),
        cast(:requests as bigint[]), cast(:succeeded as bigint[]), cast(:errored as bigint[]),
        cast(:cancelled as bigint[]), cast(:tokens_in as bigint[]), cast(:tokens_out as bigint[]),
        cast(:cost_usd as numeric[]), cast(:cache_hits as bigint[]), cast(:cache_observed as bigint[]),
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


def usage_of(event: EventEnvelope) -> tuple[UsageRecorded, bool | None]:
    """The usage data and its cache-hit flag (None when the event has none; today's events don't).

    Fields this version does not know are ignored, so additive schema changes do not stop the
    projection; a missing or invalid known field raises (the runner dead-letters the event).
    """
    data: dict[str, Any] = event.data
    # Old names of renamed fields (`cost` before `cost_usd`) are known too: events from before the rename.
    known = {key: value for key, value in data.items() if key in _USAGE_INPUT_NAMES}
    usage = UsageRecorded.model_validate(known)
    flag = data.get("cache_hit")
    return usage, (None if flag is None else bool(flag))


def aggregate_usage(usages: Iterable[tuple[UsageRecorded, bool | None]]) -> dict[RollupKey, Rollup]:
    """In-memory rollups of `usages` (see `usage_of`), one cell per granularity x bucket x model x key."""
    cells: dict[RollupKey, Rollup] = defaultdict(Rollup)
    for usage, cache_hit in usages:
        for granularity in GRANULARITIES:
            key = (granularity, floor(usage.started_at, granularity), usage.model_alias, usage.api_key_id)
            cells[key].add_usage(usage, cache_hit)
    return cells


def _by_tenant(events: Iterable[EventEnvelope]) -> dict[uuid.UUID, dict[uuid.UUID, EventEnvelope]]:
    grouped: dict[uuid.UUID, dict[uuid.UUID, EventEnvelope]] = defaultdict(dict)
    for event in events:
        grouped[event.tenant_id].setdefault(event.id, event)  # one copy of an id repeated in the batch
    return grouped


async def _mark_applied(
    session: AsyncSession, tenant_id: uuid.UUID, stream: str, ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Record `ids` as applied; returns those that were not applied before."""
    rows = await session.execute(_MARK_APPLIED, {"tid": str(tenant_id), "stream": stream, "ids": list(ids)})
    return {row.event_id for row in rows}


async def _write_rollups(session: AsyncSession, tenant_id: uuid.UUID, cells: dict[RollupKey, Rollup]) -> None:
    keys = list(cells)
    columns = {
        "g": [k[0] for k in keys],
        "b": [k[1] for k in keys],
        "m": [k[2] for k in keys],
        "k": [k[3] for k in keys],
    }
    for row in await session.execute(_EXISTING, columns):
        cell = cells[(row.granularity, as_utc(row.bucket), row.model_alias, row.api_key_id)]
        cell.latency.merge(sketches.decode(row.latency_sketch))
        cell.ttft.merge(sketches.decode(row.ttft_sketch))
    params: dict[str, object] = {"tid": str(tenant_id), **columns}
    for name in COUNTERS:
        params[name] = [getattr(cells[k], name) for k in keys]
    params["latency"] = [sketches.encode(cells[k].latency) for k in keys]
    params["ttft"] = [sketches.encode(cells[k].ttft) for k in keys]
    await session.execute(_UPSERT, params)


async def apply_usage(sessions: async_sessionmaker[AsyncSession], events: Sequence[EventEnvelope]) -> int:
    """Apply usage events; returns how many were new (the rest had been applied before)."""
    applied = 0
    for tenant_id, by_id in _by_tenant(events).items():
        # Parsed before touching the database: a poison event fails the whole batch, never half of it.
        parsed = {eid: usage_of(ev) for eid, ev in by_id.items() if ev.type == USAGE_RECORDED}
        for ev in by_id.values():
            if ev.type != USAGE_RECORDED:
                log.warning("not a usage event, ignored", extra={"event_id": str(ev.id), "type": ev.type})
        async with tenant_session(sessions, tenant_id) as session:
            await session.execute(_LOCK, {"ns": _LOCK_NAMESPACE, "tid": str(tenant_id)})
            new_ids = await _mark_applied(session, tenant_id, "USAGE", by_id)
            cells = aggregate_usage(usage for eid, usage in parsed.items() if eid in new_ids)
            if cells:
                await _write_rollups(session, tenant_id, cells)
        applied += len(new_ids)
    return applied


async def apply_billing(sessions: async_sessionmaker[AsyncSession], events: Sequence[EventEnvelope]) -> int:
    """Count billing events per tenant, type and UTC day (any type, known or not); returns how many were new."""
    applied = 0
    for tenant_id, by_id in _by_tenant(events).items():
        async with tenant_session(sessions, tenant_id) as session:
            new_ids = await _mark_applied(session, tenant_id, "BILLING", by_id)
            counts: dict[tuple[str, date], tuple[int, datetime]] = {}
            for eid in new_ids:
                ev = by_id[eid]
                when = as_utc(ev.occurred_at)
                key = (ev.type, when.date())
                count, last = counts.get(key, (0, when))
                counts[key] = (count + 1, max(last, when))
            if counts:
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
        applied += len(new_ids)
    return applied
