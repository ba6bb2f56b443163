"""All SQL of the prepaid balance: the credit ledger, admin credit grants and paid top-ups.

The ledger is append-only, top-ups positive and debits negative. Each row carries the running
balance after it (`balance_after_minor`), kept exact because every writer holds the tenant's
subscription row lock; the newest row's value is the balance, read without summing the history.
Ledger idempotency keys are unique per tenant: `checkout:<Stripe Checkout Session id>` (a paid
top-up), `grant:<Idempotency-Key>` (an admin grant), `usage:<usage event id>`, `invoice:<period
start>` (and `top_up:<Idempotency-Key>` on rows from before top-ups needed a payment).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.balance.schemas import CreditEntry, CreditGrant, TopUp

__all__ = [
    "grant_by_key",
    "insert_grant",
    "insert_ledger_entry",
    "insert_top_up",
    "ledger_balance",
    "ledger_entry_by_key",
    "list_grants",
    "lock_top_up_by_session",
    "set_top_up_status",
    "tenant_by_checkout_session",
    "top_up_by_id",
    "top_up_by_key",
]


# --- credit_ledger

_LEDGER_COLS = "id, amount_minor, balance_after_minor, reason, idempotency_key, created_at"
_BALANCE = text(
    "select balance_after_minor from credit_ledger where tenant_id = :tid order by id desc limit 1",
)
_LEDGER_BY_KEY = text(
    f"select {_LEDGER_COLS} from credit_ledger where tenant_id = :tid and idempotency_key = :key"  # noqa: S608  # nosec B608
)
_LEDGER_INSERT = text(
    "insert into credit_ledger (tenant_id, amount_minor, balance_after_minor, reason, idempotency_key,"  # noqa: S608  # nosec B608
    " period_start) values (:tid, :amount, :after, :reason, :key, :period_start)"
    f" returning {_LEDGER_COLS}"
)


async def ledger_balance(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The newest ledger row's running balance (0 without rows)."""
    return int((await session.execute(_BALANCE, {"tid": tenant_id})).scalar() or 0)


async def ledger_entry_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> CreditEntry | None:
    row = (await session.execute(_LEDGER_BY_KEY, {"tid": tenant_id, "key": key})).first()
    return None if row is None else CreditEntry(**row._mapping)


async def insert_ledger_entry(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    amount_minor: int,
    balance_after_minor: int,
    reason: str,
    key: str,
    period_start: datetime | None,
) -> CreditEntry:
    params = {
        "tid": tenant_id,
        "amount": amount_minor,
        "after": balance_after_minor,
        "reason": reason,
        "key": key,
        "period_start": period_start,
    }
    return CreditEntry(**(await session.execute(_LEDGER_INSERT, params)).one()._mapping)


# --- credit_grants

_GRANT_COLS = "id, tenant_id, amount_minor, currency, reason, actor, admin_key_id, credit_id, created_at"
_GRANT_BY_KEY = text(
    f"select {_GRANT_COLS} from credit_grants where tenant_id = :tid and idempotency_key = :key"  # noqa: S608  # nosec B608
)
_GRANTS = text(
    f"select {_GRANT_COLS} from credit_grants where tenant_id = :tid"  # noqa: S608  # nosec B608
    " order by created_at desc, id limit :limit"
)
_GRANT_INSERT = text(
    "insert into credit_grants (tenant_id, idempotency_key, amount_minor, currency, reason, actor, admin_key_id,"  # noqa: S608  # nosec B608
    " credit_id, created_at) values (:tid, :key, :amount, :currency, :reason, :actor, :admin_key_id, :credit_id,"
    f" :now) returning {_GRANT_COLS}"
)


async def grant_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> CreditGrant | None:
    row = (await session.execute(_GRANT_BY_KEY, {"tid": tenant_id, "key": key})).first()
    return None if row is None else CreditGrant(**row._mapping)


async def insert_grant(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    key: str,
    amount_minor: int,
    currency: str,
    reason: str,
    actor: str,
    admin_key_id: uuid.UUID | None,
    credit_id: int,
    now: datetime,
) -> CreditGrant:
    params = {
        "tid": tenant_id,
        "key": key,
        "amount": amount_minor,
        "currency": currency,
        "reason": reason,
        "actor": actor,
        "admin_key_id": admin_key_id,
        "credit_id": credit_id,
        "now": now,
    }
    return CreditGrant(**(await session.execute(_GRANT_INSERT, params)).one()._mapping)


async def list_grants(session: AsyncSession, tenant_id: uuid.UUID, limit: int) -> list[CreditGrant]:
    """A tenant's grants, newest first."""
    rows = await session.execute(_GRANTS, {"tid": tenant_id, "limit": limit})
    return [CreditGrant(**row._mapping) for row in rows]


# --- top_ups

_TOP_UP_COLS = (
    "id, idempotency_key, amount_minor, currency, status, checkout_session_id, checkout_url, expires_at,"
    " credit_id, failure_reason, created_at, settled_at"
)
_TOP_UP_BY_KEY = text(
    f"select {_TOP_UP_COLS} from top_ups where tenant_id = :tid and idempotency_key = :key"  # noqa: S608  # nosec B608
)
_TOP_UP_BY_ID = text(f"select {_TOP_UP_COLS} from top_ups where tenant_id = :tid and id = :id")  # noqa: S608  # nosec B608
_TOP_UP_BY_SESSION_LOCKED = text(
    f"select {_TOP_UP_COLS} from top_ups where checkout_session_id = :sid for update"  # noqa: S608  # nosec B608
)
_TOP_UP_INSERT = text(
    "insert into top_ups (tenant_id, idempotency_key, amount_minor, currency, checkout_session_id, checkout_url,"
    " expires_at) values (:tid, :key, :amount, :currency, :sid, :url, :expires_at)"
    " on conflict (tenant_id, idempotency_key) do nothing"
)
_TOP_UP_SETTLE = text(
    "update top_ups set status = :status, credit_id = :credit_id, failure_reason = :reason, settled_at = :now"
    " where id = :id and status = 'pending'"
)
_TENANT_BY_SESSION = text("select tenant_id from top_ups where checkout_session_id = :sid")


async def top_up_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> TopUp | None:
    row = (await session.execute(_TOP_UP_BY_KEY, {"tid": tenant_id, "key": key})).first()
    return None if row is None else TopUp(**row._mapping)


async def top_up_by_id(session: AsyncSession, tenant_id: uuid.UUID, top_up_id: uuid.UUID) -> TopUp | None:
    row = (await session.execute(_TOP_UP_BY_ID, {"tid": tenant_id, "id": top_up_id})).first()
    return None if row is None else TopUp(**row._mapping)


async def lock_top_up_by_session(session: AsyncSession, checkout_session_id: str) -> TopUp | None:
    """The top-up a Checkout Session pays, locked until the transaction ends."""
    row = (await session.execute(_TOP_UP_BY_SESSION_LOCKED, {"sid": checkout_session_id})).first()
    return None if row is None else TopUp(**row._mapping)


async def insert_top_up(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    key: str,
    amount_minor: int,
    currency: str,
    checkout_session_id: str,
    checkout_url: str | None,
    expires_at: datetime | None,
) -> TopUp:
    """Store the pending top-up once; returns the stored row (the first, if two raced)."""
    params = {
        "tid": tenant_id,
        "key": key,
        "amount": amount_minor,
        "currency": currency,
        "sid": checkout_session_id,
        "url": checkout_url,
        "expires_at": expires_at,
    }
    await session.execute(_TOP_UP_INSERT, params)
    stored = await top_up_by_key(session, tenant_id, key)
    assert stored is not None  # inserted now or by the request that won the race
    return stored


async def set_top_up_status(
    session: AsyncSession,
    top_up_id: uuid.UUID,
    *,
    status: str,
    credit_id: int | None,
    failure_reason: str | None,
    now: datetime,
) -> None:
    """Settle a pending top-up (a settled one is left as it is)."""
    params = {"id": top_up_id, "status": status, "credit_id": credit_id, "reason": failure_reason, "now": now}
    await session.execute(_TOP_UP_SETTLE, params)


async def tenant_by_checkout_session(admin: AsyncSession, checkout_session_id: str) -> uuid.UUID | None:
    """Cross-tenant lookup (platform_admin) of the tenant whose top-up a Checkout Session pays."""
    tenant_id: uuid.UUID | None = (
        await admin.execute(_TENANT_BY_SESSION, {"sid": checkout_session_id})
    ).scalar_one_or_none()
    return tenant_id
