"""Prepaid credits: an append-only ledger, top-ups positive and debits negative; balance = sum.

Each row carries the running balance after it (`balance_after_minor`), kept exact because every
writer holds the tenant's subscription row lock; the newest row's value is the balance, read
without summing the whole history. Idempotency keys are unique per tenant: `checkout:<Stripe
Checkout Session id>` (a paid top-up), `grant:<Idempotency-Key>` (an admin grant), `usage:<usage
event id>`, `invoice:<period start>` (and `top_up:<Idempotency-Key>` on rows from before top-ups
needed a payment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import PlatformError
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import BALANCE_TOPPED_UP, BalanceToppedUp
from billing.subscriptions import lock_subscription

__all__ = ["CreditEntry", "balance", "credit", "add_entry", "IdempotencyConflict"]


@dataclass(frozen=True)
class CreditEntry:
    id: int
    amount_minor: int
    balance_after_minor: int
    reason: str
    idempotency_key: str
    created_at: datetime


class IdempotencyConflict(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "idempotency_key_reused"


_COLS = "id, amount_minor, balance_after_minor, reason, idempotency_key, created_at"
_BALANCE = text(
    "select balance_after_minor from credit_ledger where tenant_id = :tid order by id desc limit 1",
)
_BY_KEY = text(f"select {_COLS} from credit_ledger where tenant_id = :tid and idempotency_key = :key")  # noqa: S608  # nosec B608
_INSERT = text(
    "insert into credit_ledger (tenant_id, amount_minor, balance_after_minor, reason, idempotency_key,"  # noqa: S608  # nosec B608
    " period_start) values (:tid, :amount, :after, :reason, :key, :period_start)"
    f" returning {_COLS}"
)


async def balance(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    return int((await session.execute(_BALANCE, {"tid": tenant_id})).scalar() or 0)


async def add_entry(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    amount_minor: int,
    current_balance: int,
    reason: str,
    key: str,
    period_start: datetime | None = None,
) -> CreditEntry:
    """Append one entry; the caller holds the subscription lock and passes the balance it read under it."""
    row = (
        await session.execute(
            _INSERT,
            {
                "tid": tenant_id,
                "amount": amount_minor,
                "after": current_balance + amount_minor,
                "reason": reason,
                "key": key,
                "period_start": period_start,
            },
        )
    ).one()
    return CreditEntry(**row._mapping)


async def credit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    amount_minor: int,
    currency: str,
    key: str,
    reason: str,
    now: datetime,
) -> CreditEntry:
    """Add `amount_minor` once per ledger `key` (a repeat returns the first entry) and write the event.

    Only paid top-ups (`reason='top_up'`, key `checkout:<session id>`) and admin grants (`reason='grant'`,
    key `grant:<Idempotency-Key>`) call this: no tenant request alone adds credit.
    """
    await lock_subscription(session, tenant_id, now)
    existing = (await session.execute(_BY_KEY, {"tid": tenant_id, "key": key})).first()
    if existing is not None:
        return CreditEntry(**existing._mapping)
    entry = await add_entry(
        session,
        tenant_id,
        amount_minor=amount_minor,
        current_balance=await balance(session, tenant_id),
        reason=reason,
        key=key,
    )
    data = BalanceToppedUp(
        credit_id=entry.id,
        currency=currency,
        amount_minor=amount_minor,
        balance_minor=entry.balance_after_minor,
        idempotency_key=key,
    )
    await write_outbox(
        session,
        EventEnvelope(
            id=event_id(BALANCE_TOPPED_UP, str(tenant_id), str(entry.id)),
            type=BALANCE_TOPPED_UP,
            tenant_id=tenant_id,
            data=data.model_dump(mode="json"),
        ),
    )
    return entry
