"""SQL of metering: the usage ledger and counters, the batch write, period usage and quota states."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events.schemas import USAGE_METERED
from billing.metering.rules import MeterOutcome
from billing.metering.schemas import MeteredEvent, MeteredPeriod

__all__ = [
    "TenantMeter",
    "lock_meter_state",
    "write_metered",
    "PastPeriod",
    "past_period",
    "period_counters",
    "period_charge",
    "period_cache_charge",
    "QuotaRow",
    "quota_rows",
]


@dataclass(frozen=True)
class TenantMeter:
    """A tenant's period as metering finds it, with which of the batch's events the ledger already holds."""

    plan_code: str
    period_start: datetime
    period_charge_minor: Decimal
    used_tokens: int
    used_requests: int
    balance_minor: int
    seen: frozenset[uuid.UUID]


_STATE = text(
    """
    select s.plan_code, s.current_period_start, s.period_charge_minor,
        coalesce((select sum(c.quantity) from usage_counters c where c.tenant_id = s.tenant_id
            and c.period_start = s.current_period_start and c.meter in ('tokens_in', 'tokens_out')), 0) as used_tokens,
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
            price_out numeric, charge_minor numeric, occurred_at timestamptz, metered_id uuid, payload jsonb,
            cache_status text, cached_tokens bigint, cache_hit_fee_minor numeric)
    ), ledger as (
        insert into usage_ledger (tenant_id, event_id, period_start, model_alias, tier, tokens_in, tokens_out,
            requests, included_in, included_out, input_minor_per_1k, output_minor_per_1k, charge_minor, occurred_at,
            cache_status, cached_tokens, cache_hit_fee_minor)
        select :tid, e.event_id, :period_start, e.model_alias, e.tier, e.tokens_in, e.tokens_out, 1,
            e.included_in, e.included_out, e.price_in, e.price_out, e.charge_minor, e.occurred_at,
            e.cache_status, e.cached_tokens, e.cache_hit_fee_minor
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


async def lock_meter_state(
    session: AsyncSession, tenant_id: uuid.UUID, event_ids: Sequence[uuid.UUID]
) -> TenantMeter | None:
    """Lock the tenant's subscription and read its period's usage, balance and already-metered events."""
    row = (await session.execute(_STATE, {"tid": tenant_id, "ids": list(event_ids)})).first()
    if row is None:
        return None
    return TenantMeter(
        plan_code=row.plan_code,
        period_start=row.current_period_start,
        period_charge_minor=row.period_charge_minor,
        used_tokens=int(row.used_tokens),
        used_requests=int(row.used_requests),
        balance_minor=int(row.balance),
        seen=frozenset(row.seen),
    )


async def write_metered(session: AsyncSession, period: MeteredPeriod, outcome: MeterOutcome) -> int:
    """Ledger rows, counters, debits, outbox events and the running charge in one statement; returns new rows."""
    rows: list[dict[str, object]] = []
    for line in outcome.lines:
        event = MeteredEvent(period, line.usage, line.tier, line.charge_minor)
        charge_text = format(line.charge_minor, "f")
        rows.append(
            {
                "event_id": line.usage.event_id,
                "model_alias": line.usage.model_alias,
                "tier": line.tier,
                "tokens_in": line.usage.tokens_in,
                "tokens_out": line.usage.tokens_out,
                "included_in": line.included_in,
                "included_out": line.included_out,
                "price_in": line.price.input_text,
                "price_out": line.price.output_text,
                "charge_minor": charge_text,
                "occurred_at": line.usage.occurred_at,
                "metered_id": event.id,
                "payload": event.payload(charge_text),
                "cache_status": line.usage.cache_status,
                "cached_tokens": line.usage.cached_tokens,
                "cache_hit_fee_minor": format(line.cache_hit_fee_minor, "f"),
            }
        )
    params = {
        "tid": period.tenant_id,
        "period_start": period.period_start,
        "subject": f"{USAGE_METERED}.{period.tenant_id}",
        # One JSON document instead of a dozen arrays: orjson and Postgres parse it far faster
        # than asyncpg encodes arrays element by element.
        "rows": orjson.dumps(rows).decode(),
        "c_aliases": [alias for alias, _ in outcome.counters],
        "c_meters": [meter for _, meter in outcome.counters],
        "c_quantities": list(outcome.counters.values()),
        "d_amounts": [debit.amount_minor for debit in outcome.debits],
        "d_afters": [debit.balance_after_minor for debit in outcome.debits],
        "d_keys": [debit.key for debit in outcome.debits],
        "charge": outcome.total_charge_minor,
    }
    return int((await session.execute(_WRITE, params)).scalar_one())


_COUNTERS = text(
    "select model_alias, meter, quantity from usage_counters where tenant_id = :tid and period_start = :period_start"
)
_CHARGE = text(
    "select coalesce(sum(charge_minor), 0) from usage_ledger where tenant_id = :tid and period_start = :period_start"
)
_CACHE_CHARGE = text(
    "select coalesce(sum(charge_minor), 0) from usage_ledger where tenant_id = :tid and period_start = :period_start"
    " and cache_status in ('exact', 'semantic')"
)
_PAST_PERIOD = text(
    """
    select period_start, max(period_end) as period_end, max(plan_code) as plan_code from (
        select period_start, period_end, plan_code from invoices where tenant_id = :tid
        union all
        select distinct period_start, null::timestamptz, null from usage_counters where tenant_id = :tid
    ) p where (period_start at time zone 'UTC')::date = :day
    group by period_start order by period_start limit 1
    """
)


@dataclass(frozen=True)
class PastPeriod:
    period_start: datetime
    period_end: datetime | None
    plan_code: str | None  # None: not invoiced yet (still being closed)


async def past_period(session: AsyncSession, tenant_id: uuid.UUID, day: date) -> PastPeriod | None:
    """The invoiced or metered period of the tenant starting on `day`."""
    row = (await session.execute(_PAST_PERIOD, {"tid": tenant_id, "day": day})).first()
    return None if row is None else PastPeriod(row.period_start, row.period_end, row.plan_code)


async def period_counters(
    session: AsyncSession, tenant_id: uuid.UUID, period_start: datetime
) -> dict[str, dict[str, int]]:
    """model alias -> meter -> quantity of the period."""
    by_model: dict[str, dict[str, int]] = {}
    params = {"tid": tenant_id, "period_start": period_start}
    for row in (await session.execute(_COUNTERS, params)).all():
        by_model.setdefault(row.model_alias, {})[row.meter] = int(row.quantity)
    return by_model


async def period_charge(session: AsyncSession, tenant_id: uuid.UUID, period_start: datetime) -> Decimal:
    """The overage metered in the period, unrounded minor units."""
    params = {"tid": tenant_id, "period_start": period_start}
    return Decimal((await session.execute(_CHARGE, params)).scalar_one())


async def period_cache_charge(session: AsyncSession, tenant_id: uuid.UUID, period_start: datetime) -> Decimal:
    """What the period's cache hits cost (their fees), unrounded minor units."""
    params = {"tid": tenant_id, "period_start": period_start}
    return Decimal((await session.execute(_CACHE_CHARGE, params)).scalar_one())


_QUOTAS = """
    select s.tenant_id, s.plan_code, s.current_period_start,
        coalesce(sum(c.quantity) filter (where c.meter in ('tokens_in', 'tokens_out')), 0) as used_tokens,
        coalesce(sum(c.quantity) filter (where c.meter = 'requests'), 0) as used_requests,
        coalesce((select k.balance_after_minor from credit_ledger k where k.tenant_id = s.tenant_id
            order by k.id desc limit 1), 0) as balance
    from subscriptions s
    left join usage_counters c on c.tenant_id = s.tenant_id and c.period_start = s.current_period_start
    {where}
    group by s.tenant_id
"""
_QUOTAS_ONE = text(_QUOTAS.format(where="where s.tenant_id = :tid"))
_QUOTAS_ALL = text(_QUOTAS.format(where=""))


@dataclass(frozen=True)
class QuotaRow:
    tenant_id: uuid.UUID
    plan_code: str
    period_start: datetime
    used_tokens: int
    used_requests: int
    balance_minor: int


async def quota_rows(session: AsyncSession, tenant_id: uuid.UUID | None = None) -> list[QuotaRow]:
    """One tenant's open-period usage and balance, or (on a platform_admin session) every subscribed tenant's."""
    query = _QUOTAS_ALL if tenant_id is None else _QUOTAS_ONE
    rows = (await session.execute(query, {} if tenant_id is None else {"tid": tenant_id})).all()
    return [
        QuotaRow(
            row.tenant_id,
            row.plan_code,
            row.current_period_start,
            int(row.used_tokens),
            int(row.used_requests),
            int(row.balance),
        )
        for row in rows
    ]
