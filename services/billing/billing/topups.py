"""Paid top-ups: a pending row per Stripe Checkout Session, settled once by Stripe's signed webhook.

    pending --checkout.session.completed (payment_status paid)--> paid      credit the row's amount, once
            --checkout.session.async_payment_succeeded--------> paid
            --checkout.session.async_payment_failed-----------> failed    nothing credited
            --checkout.session.expired------------------------> expired   nothing credited
            --paid, but amount_total/currency not the row's----> mismatch  nothing credited, recorded

A settled top-up never changes again: a replay, a second event for the session or an event
arriving out of order finds it settled and changes nothing (`unchanged`). The credit is the
row's own amount (never the event's), under the ledger key `checkout:<session id>`, and it
commits in the same transaction as the status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import NotFound
from billing.credits import credit
from billing.subscriptions import lock_subscription

__all__ = [
    "CHECKOUT_EVENTS",
    "TopUp",
    "get_top_up",
    "insert_top_up",
    "settle",
    "tenant_by_session",
    "top_up_by_key",
]

CHECKOUT_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)


@dataclass(frozen=True, slots=True)
class TopUp:
    id: uuid.UUID
    idempotency_key: str
    amount_minor: int
    currency: str
    status: str
    checkout_session_id: str
    checkout_url: str | None
    expires_at: datetime | None
    credit_id: int | None
    failure_reason: str | None
    created_at: datetime
    settled_at: datetime | None


_COLS = (
    "id, idempotency_key, amount_minor, currency, status, checkout_session_id, checkout_url, expires_at,"
    " credit_id, failure_reason, created_at, settled_at"
)
_BY_KEY = text(f"select {_COLS} from top_ups where tenant_id = :tid and idempotency_key = :key")  # noqa: S608  # nosec B608
_BY_ID = text(f"select {_COLS} from top_ups where tenant_id = :tid and id = :id")  # noqa: S608  # nosec B608
_BY_SESSION_LOCKED = text(f"select {_COLS} from top_ups where checkout_session_id = :sid for update")  # noqa: S608  # nosec B608
_INSERT = text(
    "insert into top_ups (tenant_id, idempotency_key, amount_minor, currency, checkout_session_id, checkout_url,"
    " expires_at) values (:tid, :key, :amount, :currency, :sid, :url, :expires_at)"
    " on conflict (tenant_id, idempotency_key) do nothing"
)
_SETTLE = text(
    "update top_ups set status = :status, credit_id = :credit_id, failure_reason = :reason, settled_at = :now"
    " where id = :id and status = 'pending'"
)


def _row(row: Any) -> TopUp:
    return TopUp(**row._mapping)


async def top_up_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> TopUp | None:
    row = (await session.execute(_BY_KEY, {"tid": tenant_id, "key": key})).first()
    return None if row is None else _row(row)


async def get_top_up(session: AsyncSession, tenant_id: uuid.UUID, top_up_id: uuid.UUID) -> TopUp:
    row = (await session.execute(_BY_ID, {"tid": tenant_id, "id": top_up_id})).first()
    if row is None:
        raise NotFound("No such top-up.", code="top_up_not_found")
    return _row(row)


async def insert_top_up(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    key: str,
    amount_minor: int,
    currency: str,
    checkout_session: dict[str, Any],
) -> TopUp:
    """Store the pending top-up of a Checkout Session once; returns the stored row (the first, if two raced)."""
    expires = checkout_session.get("expires_at")
    await session.execute(
        _INSERT,
        {
            "tid": tenant_id,
            "key": key,
            "amount": amount_minor,
            "currency": currency,
            "sid": checkout_session["id"],
            "url": checkout_session.get("url"),
            "expires_at": None if expires is None else datetime.fromtimestamp(int(expires), tz=UTC),
        },
    )
    stored = await top_up_by_key(session, tenant_id, key)
    assert stored is not None
    return stored


async def tenant_by_session(admin: AsyncSession, checkout_session_id: str) -> uuid.UUID | None:
    """Cross-tenant lookup (platform_admin) of the tenant whose top-up a Checkout Session pays."""
    query = text("select tenant_id from top_ups where checkout_session_id = :sid")
    return (await admin.execute(query, {"sid": checkout_session_id})).scalar_one_or_none()


def _verdict(event_type: str, obj: dict[str, Any]) -> str | None:
    """The status a checkout event asks for, or None when it settles nothing (completed, payment pending)."""
    if event_type == "checkout.session.completed":
        return "paid" if obj.get("payment_status") == "paid" else None
    return {
        "checkout.session.async_payment_succeeded": "paid",
        "checkout.session.async_payment_failed": "failed",
        "checkout.session.expired": "expired",
    }.get(event_type)


async def settle(
    session: AsyncSession, tenant_id: uuid.UUID, event_type: str, obj: dict[str, Any], now: datetime
) -> str:
    """Apply a verified checkout event in the tenant's transaction; returns the outcome.

    Outcomes: `processed` (settled now), `unchanged` (already settled, or nothing to settle yet),
    `mismatch` (paid, but not the amount or currency we asked for), `unmapped` (no such top-up).
    """
    # Lock order of every credit writer: the subscription row first, then the top-up row.
    await lock_subscription(session, tenant_id, now)
    row = (await session.execute(_BY_SESSION_LOCKED, {"sid": obj.get("id")})).first()
    if row is None:
        return "unmapped"
    top_up = _row(row)
    status = _verdict(event_type, obj)
    if top_up.status != "pending" or status is None:
        return "unchanged"
    params: dict[str, Any] = {"id": top_up.id, "status": status, "credit_id": None, "reason": None, "now": now}
    if status == "paid":
        paid = (obj.get("amount_total"), obj.get("currency"))
        if paid != (top_up.amount_minor, top_up.currency):
            params.update(status="mismatch", reason=f"Stripe reported {paid[0]!r} {paid[1]!r}")
        else:
            entry = await credit(
                session,
                tenant_id,
                amount_minor=top_up.amount_minor,
                currency=top_up.currency,
                key=f"checkout:{top_up.checkout_session_id}",
                reason="top_up",
                now=now,
            )
            params["credit_id"] = entry.id
    elif status == "failed":
        params["reason"] = "The payment failed."
    else:
        params["reason"] = "The Checkout Session expired unpaid."
    await session.execute(_SETTLE, params)
    return "mismatch" if params["status"] == "mismatch" else "processed"
