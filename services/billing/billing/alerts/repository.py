"""SQL of quota alerts: the tenant's endpoint and the delivery queue (`alert_deliveries`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "Claimed",
    "insert_delivery",
    "upsert_endpoint",
    "claim_due",
    "mark_delivered",
    "mark_no_endpoint",
    "mark_failed",
]

_RECORD = text(
    "insert into alert_deliveries (tenant_id, threshold_pct, period_start, payload)"
    " values (:tid, :pct, :period_start, cast(:payload as jsonb))"
    " on conflict (tenant_id, period_start, threshold_pct) do nothing returning id"
)
_SET_ENDPOINT = text(
    "insert into alert_endpoints (tenant_id, url, secret) values (:tid, :url, :secret)"
    " on conflict (tenant_id) do update set url = excluded.url, secret = excluded.secret, updated_at = now()"
)
_CLAIM = text(
    """
    with due as (
        select id from alert_deliveries
        where status = 'pending' and next_attempt_at <= now()
        order by next_attempt_at limit :limit
        for update skip locked
    ), claimed as (
        update alert_deliveries d
        set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => :lease_s)
        from due where d.id = due.id
        returning d.id, d.tenant_id, d.payload, d.attempts
    )
    select c.id, c.tenant_id, c.payload::text as payload, c.attempts, e.url, e.secret
    from claimed c left join alert_endpoints e on e.tenant_id = c.tenant_id
    """
)
_DELIVERED = text("update alert_deliveries set status = 'delivered', delivered_at = now() where id = :id")
_NO_ENDPOINT = text(
    "update alert_deliveries set status = 'no_endpoint', last_error = 'no alert endpoint configured' where id = :id"
)
_FAILED = text(
    "update alert_deliveries set status = case when :give_up then 'failed' else 'pending' end,"
    " last_error = :error, next_attempt_at = now() + make_interval(secs => :delay_s) where id = :id"
)


@dataclass(frozen=True)
class Claimed:
    """A due delivery, leased to this deliverer, with its tenant's endpoint (None: none configured)."""

    id: int
    tenant_id: uuid.UUID
    payload: str
    attempts: int
    url: str | None
    secret: str | None


async def insert_delivery(
    session: AsyncSession, tenant_id: uuid.UUID, pct: int, period_start: datetime, payload: str
) -> bool:
    """Queue one threshold's alert; False when this period's alert for `pct` exists (the first crossing wins)."""
    params = {"tid": tenant_id, "pct": pct, "period_start": period_start, "payload": payload}
    return (await session.execute(_RECORD, params)).first() is not None


async def upsert_endpoint(session: AsyncSession, tenant_id: uuid.UUID, url: str, secret: str) -> None:
    await session.execute(_SET_ENDPOINT, {"tid": tenant_id, "url": url, "secret": secret})


async def claim_due(session: AsyncSession, limit: int, lease_s: float) -> list[Claimed]:
    """Lease up to `limit` due deliveries of every tenant (platform_admin session) for `lease_s` seconds."""
    rows = (await session.execute(_CLAIM, {"limit": limit, "lease_s": lease_s})).all()
    return [Claimed(r.id, r.tenant_id, r.payload, r.attempts, r.url, r.secret) for r in rows]


async def mark_delivered(session: AsyncSession, delivery_id: int) -> None:
    await session.execute(_DELIVERED, {"id": delivery_id})


async def mark_no_endpoint(session: AsyncSession, delivery_id: int) -> None:
    await session.execute(_NO_ENDPOINT, {"id": delivery_id})


async def mark_failed(session: AsyncSession, delivery_id: int, *, give_up: bool, error: str, delay_s: float) -> None:
    """Retry after `delay_s`, or (`give_up`) stop with the last error kept."""
    await session.execute(_FAILED, {"id": delivery_id, "give_up": give_up, "error": error, "delay_s": delay_s})
