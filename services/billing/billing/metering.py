"""Metering: usage.recorded events -> usage ledger, counters, overage charges, credit debits, outbox events.

One transaction per tenant per batch, under the tenant's RLS context and its subscription row lock
(so the included allowance is consumed in order, and period close waits for it). Idempotency: an
event already in the ledger (checked under the lock, and enforced by the ledger's unique event id)
adds nothing: no counter, no charge, no debit, no event. All writes of a tenant's batch go in one
statement of data-modifying CTEs, so a batch costs a handful of round trips whatever its size.

Charge rule: the plan's included tokens are consumed in the order events are metered, within an event
input tokens first; tokens beyond the allowance cost the plan's price for the model's tier. Credit
debits follow the period's running charge in whole minor units (a debit whenever the running total
passes a cent), so fractions are neither lost nor rounded per event; the balance never goes negative.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.errors import NotFound
from aiaas.events import EventEnvelope, Received, event_id
from aiaas.events.schemas import USAGE_METERED, UsageRecorded
from aiaas.quota import QuotaState
from billing.alerts import record_thresholds, threshold_tokens
from billing.catalogue import Catalogue, CatalogueCache, Plan
from billing.money import floor_minor, token_charge
from billing.subscriptions import ensure_subscription

__all__ = ["Usage", "metered_payload", "quota_state", "meter_batch", "meter_tenant"]


@dataclass(frozen=True)
class Usage:
    """The part of a usage.recorded event billing needs."""

    event_id: uuid.UUID
    model_alias: str
    tokens_in: int
    tokens_out: int
    occurred_at: datetime
    trace: dict[str, str]

    @classmethod
    def from_event(cls, event: EventEnvelope) -> Usage:
        usage = UsageRecorded.model_validate(event.data)
        return cls(event.id, usage.model_alias, usage.tokens_in, usage.tokens_out, event.occurred_at, event.trace)


def metered_payload(
    metered_id: uuid.UUID,
    tenant_text: str,
    now_text: str,
    usage: Usage,
    period_text: str,
    tier: str,
    currency: str,
    charge_text: str,
) -> dict[str, object]:
    """The billing.usage.metered envelope as a JSON-ready dict, built without pydantic (the meter's hot path).

    Same shape as `EventEnvelope(data=UsageMetered(...).model_dump(mode="json"))`; test_metering checks
    that the stored payloads validate against both models.
    """
    return {
        "id": metered_id,
        "type": USAGE_METERED,
        "tenant_id": tenant_text,
        "occurred_at": now_text,
        "trace": usage.trace,
        "data": {
            "source_event_id": usage.event_id,
            "period_start": period_text,
            "model_alias": usage.model_alias,
            "tier": tier,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "requests": 1,
            "currency": currency,
            "charge_minor": charge_text,
        },
    }


def quota_state(plan: Plan, period_start: datetime, used_tokens: int, used_requests: int, credit: int) -> QuotaState:
    return QuotaState(
        period_start=period_start.isoformat(),
        token_limit=plan.token_limit,
        request_limit=plan.request_limit,
        used_tokens=used_tokens,
        used_requests=used_requests,
        credit_minor=credit,
        limit_name=plan.limit_name,
    )


_STATE = text(
    """
    select s.plan_code, s.current_period_start, s.period_charge_minor,
        coalesce((select sum(c.quantity) from usage_counters c where c.tenant_id = s.tenant_id
            and c.period_start = s.current_period_start and c.meter <> 'requests'), 0) as used_tokens,
        coalesce((select sum(c.quantity) from usage_counters c where c.tenant_id = s.tenant_id
            and c.period_start = s.current_period_start and c.meter = 'requests'), 0) as used_requests,
        coalesce((select k.balance_after_minor from credit_ledger k where k.tenant_id = s.tenant_id
            order by k.id desc limit 1), 0) as balance,
        array(select l.event_id from usage_ledger l where l.event_id = any(cast(:ids as uuid[]))) as seen
    from subscriptions s where s.tenant_id = :tid
    for update of s
    """
)

_WRITE = text(
    """
    with e as (
        select * from jsonb_to_recordset(cast(:rows as jsonb)) as e(event_id uuid, model_alias text, tier text,
            tokens_in bigint, tokens_out bigint, included_in bigint, included_out bigint, price_in numeric,
            price_out numeric, charge_minor numeric, occurred_at timestamptz, metered_id uuid, payload jsonb)
    ), ledger as (
        insert into usage_ledger (tenant_id, event_id, period_start, model_alias, tier, tokens_in, tokens_out,
            requests, included_in, included_out, input_minor_per_1k, output_minor_per_1k, charge_minor, occurred_at)
        select :tid, e.event_id, :period_start, e.model_alias, e.tier, e.tokens_in, e.tokens_out, 1,
            e.included_in, e.included_out, e.price_in, e.price_out, e.charge_minor, e.occurred_at
        from e
        on conflict (event_id) do nothing
        returning 1
    ), counters as (
        insert into usage_counters (tenant_id, period_start, model_alias, meter, quantity)
        select :tid, :period_start, c.model_alias, c.meter, c.quantity
        from unnest(cast(:c_aliases as text[]), cast(:c_meters as text[]), cast(:c_quantities as bigint[]))
            as c(model_alias, meter, quantity)
        on conflict (tenant_id, period_start, model_alias, meter)
            do update set quantity = usage_counters.quantity + excluded.quantity
    ), debits as (
        insert into credit_ledger (tenant_id, amount_minor, balance_after_minor, reason, idempotency_key,
            period_start)
        select :tid, d.amount, d.after, 'usage', d.key, :period_start
        from unnest(cast(:d_amounts as bigint[]), cast(:d_afters as bigint[]), cast(:d_keys as text[]))
            with ordinality as d(amount, after, key, n)
        order by d.n
    ), outbox as (
        insert into event_outbox (tenant_id, event_id, subject, payload)
        select :tid, e.metered_id, :subject, e.payload from e
        on conflict (event_id) do nothing
    ), charged as (
        update subscriptions set period_charge_minor = period_charge_minor + cast(:charge as numeric)
        where tenant_id = :tid and cast(:charge as numeric) > 0
    )
    select count(*) from ledger
    """
)


class ConcurrentMetering(RuntimeError):
    """The ledger refused an event the lock said was new: roll back and let the consumer retry."""


async def meter_tenant(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, usages: Sequence[Usage], now: datetime
) -> QuotaState:
    """Meter one tenant's events inside its open transaction; returns its quota state after them."""
    ids = [usage.event_id for usage in usages]
    params = {"tid": tenant_id, "ids": ids}
    state = (await session.execute(_STATE, params)).first()
    if state is None:
        await ensure_subscription(session, tenant_id, now)
        state = (await session.execute(_STATE, params)).one()
    plan = catalogue.plan(state.plan_code)
    period_start: datetime = state.current_period_start
    seen = set(state.seen)
    fresh = [usage for usage in usages if usage.event_id not in seen]
    used_tokens, used_requests, balance = int(state.used_tokens), int(state.used_requests), int(state.balance)
    if not fresh:
        return quota_state(plan, period_start, used_tokens, used_requests, balance)

    rows: list[dict[str, object]] = []
    counters: dict[tuple[str, str], int] = {}
    d_amounts: list[int] = []
    d_afters: list[int] = []
    d_keys: list[str] = []
    remaining = max(plan.included_tokens - used_tokens, 0)
    used = used_tokens
    crossings: list[tuple[int, int]] = []
    # (tokens at which a soft limit is reached, its percentage), only those still ahead.
    thresholds = [(t, pct) for t, pct in threshold_tokens(plan) if t > used]
    next_threshold = 0
    now_text, period_text, tenant_text = now.isoformat(), period_start.isoformat(), str(tenant_id)
    running: Decimal = state.period_charge_minor
    total_charge = Decimal(0)
    for usage in fresh:
        tier = catalogue.tier(usage.model_alias)
        price = plan.price(tier)
        tokens = usage.tokens_in + usage.tokens_out
        inc_in = min(usage.tokens_in, remaining)
        inc_out = min(usage.tokens_out, remaining - inc_in)
        remaining -= inc_in + inc_out
        charge = token_charge(usage.tokens_in - inc_in, price.input_minor_per_1k) + token_charge(
            usage.tokens_out - inc_out, price.output_minor_per_1k
        )
        used += tokens
        while next_threshold < len(thresholds) and thresholds[next_threshold][0] <= used:
            crossings.append((thresholds[next_threshold][1], used))
            next_threshold += 1
        for meter, quantity in (("tokens_in", usage.tokens_in), ("tokens_out", usage.tokens_out), ("requests", 1)):
            counters[(usage.model_alias, meter)] = counters.get((usage.model_alias, meter), 0) + quantity
        if charge:
            # Debit whenever the period's running charge passes another whole minor unit.
            whole = floor_minor(running + charge) - floor_minor(running)
            running += charge
            total_charge += charge
            debit = min(whole, balance)
            if debit > 0:
                balance -= debit
                d_amounts.append(-debit)
                d_afters.append(balance)
                d_keys.append(f"usage:{usage.event_id}")
        charge_text = format(charge, "f")
        metered_id = event_id(USAGE_METERED, str(usage.event_id))
        rows.append(
            {
                "event_id": usage.event_id,
                "model_alias": usage.model_alias,
                "tier": tier,
                "tokens_in": usage.tokens_in,
                "tokens_out": usage.tokens_out,
                "included_in": inc_in,
                "included_out": inc_out,
                "price_in": price.input_text,
                "price_out": price.output_text,
                "charge_minor": charge_text,
                "occurred_at": usage.occurred_at,
                "metered_id": metered_id,
                "payload": metered_payload(
                    metered_id, tenant_text, now_text, usage, period_text, tier, plan.currency, charge_text
                ),
            }
        )

    inserted = (
        await session.execute(
            _WRITE,
            {
                "tid": tenant_id,
                "period_start": period_start,
                "subject": f"{USAGE_METERED}.{tenant_id}",
                # One JSON document instead of a dozen arrays: orjson and Postgres parse it far faster
                # than asyncpg encodes arrays element by element.
                "rows": orjson.dumps(rows).decode(),
                "c_aliases": [alias for alias, _ in counters],
                "c_meters": [meter for _, meter in counters],
                "c_quantities": list(counters.values()),
                "d_amounts": d_amounts,
                "d_afters": d_afters,
                "d_keys": d_keys,
                "charge": total_charge,
            },
        )
    ).scalar_one()
    if inserted != len(fresh):
        raise ConcurrentMetering(f"expected {len(fresh)} new ledger rows for tenant {tenant_id}, inserted {inserted}")
    if crossings:
        await record_thresholds(session, plan, tenant_id, period_start, crossings, now)
    return quota_state(plan, period_start, used, used_requests + len(fresh), balance)


def _by_tenant(batch: Sequence[Received]) -> dict[uuid.UUID, list[Usage]]:
    grouped: dict[uuid.UUID, dict[uuid.UUID, Usage]] = {}
    for item in batch:
        usages = grouped.setdefault(item.event.tenant_id, {})
        # The same event twice in one batch (a replay next to the original) is metered once.
        usages.setdefault(item.event.id, Usage.from_event(item.event))
    return {tenant: list(usages.values()) for tenant, usages in grouped.items()}


async def _meter_one(
    sessions: async_sessionmaker[AsyncSession],
    catalogues: CatalogueCache,
    tenant_id: uuid.UUID,
    usages: Sequence[Usage],
    now: datetime,
) -> QuotaState:
    try:
        async with tenant_session(sessions, tenant_id) as session:
            return await meter_tenant(session, await catalogues.get(), tenant_id, usages, now)
    except NotFound:
        # A plan created after the cached catalogue was loaded: reload it and try once more.
        catalogues.invalidate()
        async with tenant_session(sessions, tenant_id) as session:
            return await meter_tenant(session, await catalogues.get(), tenant_id, usages, now)


async def meter_batch(
    sessions: async_sessionmaker[AsyncSession],
    catalogues: CatalogueCache,
    batch: Sequence[Received],
    now: datetime,
    *,
    concurrency: int = 4,
) -> dict[uuid.UUID, QuotaState]:
    """Meter a fetched batch, one transaction per tenant (up to `concurrency` at once).

    Returns each tenant's committed quota state. If one tenant fails the others may have committed;
    the consumer then retries event by event and the committed ones are recognised as already metered.
    """
    grouped = _by_tenant(batch)
    limit = asyncio.Semaphore(concurrency)

    async def one(tenant_id: uuid.UUID) -> tuple[uuid.UUID, QuotaState]:
        async with limit:
            return tenant_id, await _meter_one(sessions, catalogues, tenant_id, grouped[tenant_id], now)

    results = await asyncio.gather(*(one(tenant_id) for tenant_id in grouped), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result  # every transaction has ended (committed or rolled back) by now
    return dict(result for result in results if not isinstance(result, BaseException))
