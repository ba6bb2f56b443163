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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import EventEnvelope
from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded, input_names
from analytics.rollups import repository, sketches
from analytics.rollups.buckets import GRANULARITIES, Granularity, as_utc, floor
from analytics.rollups.rollup import CACHE_HITS, COUNTERS, Rollup

__all__ = ["RollupKey", "RouterKey", "aggregate_usage", "aggregate_router", "apply_usage", "apply_billing", "usage_of"]

log = logging.getLogger(__name__)

# Keys of a usage event the projection reads (current names and the old names they replaced).
_USAGE_INPUT_NAMES = input_names(UsageRecorded)

RollupKey = tuple[Granularity, datetime, str, uuid.UUID]
# (granularity, bucket, model alias, API key, router tier, router reason)
RouterKey = tuple[Granularity, datetime, str, uuid.UUID, str, str]


def usage_of(event: EventEnvelope) -> tuple[UsageRecorded, bool | None]:
    """The usage data and whether the cache answered it: from `cache_status` (exact/semantic: a hit, miss/bypass:
    not), else from an older `cache_hit` flag; None when the event says neither.

    Fields this version does not know are ignored, so additive schema changes do not stop the
    projection; a missing or invalid known field raises (the runner dead-letters the event).
    """
    data: dict[str, Any] = event.data
    # Old names of renamed fields (`cost` before `cost_usd`) are known too: events from before the rename.
    known = {key: value for key, value in data.items() if key in _USAGE_INPUT_NAMES}
    usage = UsageRecorded.model_validate(known)
    if usage.cache_status is not None:
        return usage, usage.cache_status in CACHE_HITS
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


def aggregate_router(usages: Iterable[tuple[UsageRecorded, bool | None]]) -> dict[RouterKey, int]:
    """Routed requests (events with a router tier) per granularity x bucket x model x key x tier x reason."""
    cells: dict[RouterKey, int] = defaultdict(int)
    for usage, _ in usages:
        if usage.router_tier is None:
            continue
        reason = usage.router_reason or "unknown"
        for granularity in GRANULARITIES:
            bucket = floor(usage.started_at, granularity)
            cells[(granularity, bucket, usage.model_alias, usage.api_key_id, usage.router_tier, reason)] += 1
    return cells


def _by_tenant(events: Iterable[EventEnvelope]) -> dict[uuid.UUID, dict[uuid.UUID, EventEnvelope]]:
    grouped: dict[uuid.UUID, dict[uuid.UUID, EventEnvelope]] = defaultdict(dict)
    for event in events:
        grouped[event.tenant_id].setdefault(event.id, event)  # one copy of an id repeated in the batch
    return grouped


async def _write_rollups(session: AsyncSession, tenant_id: uuid.UUID, cells: dict[RollupKey, Rollup]) -> None:
    keys = list(cells)
    columns: dict[str, list[object]] = {
        "g": [k[0] for k in keys],
        "b": [k[1] for k in keys],
        "m": [k[2] for k in keys],
        "k": [k[3] for k in keys],
    }
    for row in await repository.existing_sketches(session, columns):
        cell = cells[(row.granularity, as_utc(row.bucket), row.model_alias, row.api_key_id)]
        cell.latency.merge(sketches.decode(row.latency_sketch))
        cell.ttft.merge(sketches.decode(row.ttft_sketch))
    params = dict(columns)
    for name in COUNTERS:
        params[name] = [getattr(cells[k], name) for k in keys]
    params["latency"] = [sketches.encode(cells[k].latency) for k in keys]
    params["ttft"] = [sketches.encode(cells[k].ttft) for k in keys]
    await repository.upsert_rollups(session, tenant_id, params)


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
            await repository.lock_tenant(session, tenant_id)
            new_ids = await repository.mark_applied(session, tenant_id, "USAGE", by_id)
            fresh = [usage for eid, usage in parsed.items() if eid in new_ids]
            cells = aggregate_usage(fresh)
            if cells:
                await _write_rollups(session, tenant_id, cells)
            routed = aggregate_router(fresh)
            if routed:
                await repository.upsert_router_tiers(session, tenant_id, routed)
        applied += len(new_ids)
    return applied


async def apply_billing(sessions: async_sessionmaker[AsyncSession], events: Sequence[EventEnvelope]) -> int:
    """Count billing events per tenant, type and UTC day (any type, known or not); returns how many were new."""
    applied = 0
    for tenant_id, by_id in _by_tenant(events).items():
        async with tenant_session(sessions, tenant_id) as session:
            new_ids = await repository.mark_applied(session, tenant_id, "BILLING", by_id)
            counts: dict[tuple[str, date], tuple[int, datetime]] = {}
            for eid in new_ids:
                ev = by_id[eid]
                when = as_utc(ev.occurred_at)
                key = (ev.type, when.date())
                count, last = counts.get(key, (0, when))
                counts[key] = (count + 1, max(last, when))
            if counts:
                await repository.upsert_billing_counts(session, tenant_id, counts)
        applied += len(new_ids)
    return applied
