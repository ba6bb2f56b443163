"""Prepaid credit: the ledger's balance, admin grants and paid top-ups settled by Stripe's webhook.

    pending --checkout.session.completed (payment_status paid)--> paid      credit the row's amount, once
            --checkout.session.async_payment_succeeded--------> paid
            --checkout.session.async_payment_failed-----------> failed    nothing credited
            --checkout.session.expired------------------------> expired   nothing credited
            --paid, but amount_total/currency not the row's----> mismatch  nothing credited, recorded

A settled top-up never changes again: a replay, a second event for the session or an event arriving
out of order finds it settled and changes nothing (`unchanged`). The credit is the row's own amount
(never the event's), under the ledger key `checkout:<session id>`, in the same transaction as the status.
Only paid top-ups and admin grants add credit; no tenant request alone does. Every writer takes the
tenant's subscription row lock first (then the top-up row), which keeps the running balance exact.
The functions run in the caller's transaction and never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.errors import NotFound
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import BALANCE_TOPPED_UP, BalanceToppedUp
from billing.balance import repository
from billing.balance.rules import CHECKOUT_EVENTS, IdempotencyConflict, balance_after, check_grant_replay, settlement
from billing.balance.schemas import CheckoutSession, CreditEntry, CreditGrant, TopUp
from billing.subscriptions.service import lock_subscription

__all__ = [
    "CHECKOUT_EVENTS",
    "IdempotencyConflict",
    "SettleOutcome",
    "add_entry",
    "balance",
    "credit",
    "find_top_up",
    "get_top_up",
    "grant_credit",
    "list_grants",
    "record_top_up",
    "settle_top_up",
    "tenant_by_checkout_session",
]

SettleOutcome = Literal["processed", "unchanged", "mismatch", "unmapped"]

# --- the ledger


async def balance(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's prepaid balance in minor units of its plan currency."""
    return await repository.ledger_balance(session, tenant_id)


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
    return await repository.insert_ledger_entry(
        session,
        tenant_id,
        amount_minor=amount_minor,
        balance_after_minor=balance_after(current_balance, amount_minor),
        reason=reason,
        key=key,
        period_start=period_start,
    )


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
    key `grant:<Idempotency-Key>`) call this.
    """
    await lock_subscription(session, tenant_id, now)
    existing = await repository.ledger_entry_by_key(session, tenant_id, key)
    if existing is not None:
        return existing
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


# --- admin grants (platform_admin: the tenant is a path parameter, not the caller)


async def grant_credit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    amount_minor: int,
    currency: str,
    reason: str,
    actor: str,
    admin_key_id: uuid.UUID | None,
    idempotency_key: str,
    now: datetime,
) -> tuple[CreditGrant, bool]:
    """Credit the tenant and record who, when, how much and why; returns (grant, created).

    One grant per tenant and Idempotency-Key: a repeat with the same amount and reason returns the
    first grant; with others, 409. The audit row and the credit commit together.
    """
    # Taken before the key check, so a concurrent repeat of the same key waits and then finds the grant.
    await lock_subscription(session, tenant_id, now)
    existing = await repository.grant_by_key(session, tenant_id, idempotency_key)
    if existing is not None:
        check_grant_replay(existing, amount_minor, reason)
        return existing, False
    entry = await credit(
        session,
        tenant_id,
        amount_minor=amount_minor,
        currency=currency,
        key=f"grant:{idempotency_key}",
        reason="grant",
        now=now,
    )
    grant = await repository.insert_grant(
        session,
        tenant_id,
        key=idempotency_key,
        amount_minor=amount_minor,
        currency=currency,
        reason=reason,
        actor=actor,
        admin_key_id=admin_key_id,
        credit_id=entry.id,
        now=now,
    )
    return grant, True


async def list_grants(session: AsyncSession, tenant_id: uuid.UUID, limit: int = 100) -> list[CreditGrant]:
    """A tenant's grants, newest first."""
    return await repository.list_grants(session, tenant_id, limit)


# --- paid top-ups


async def find_top_up(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> TopUp | None:
    """The top-up a tenant started with this Idempotency-Key, if any."""
    return await repository.top_up_by_key(session, tenant_id, key)


async def get_top_up(session: AsyncSession, tenant_id: uuid.UUID, top_up_id: uuid.UUID) -> TopUp:
    top_up = await repository.top_up_by_id(session, tenant_id, top_up_id)
    if top_up is None:
        raise NotFound("No such top-up.", code="top_up_not_found")
    return top_up


async def record_top_up(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    key: str,
    amount_minor: int,
    currency: str,
    checkout: CheckoutSession,
) -> TopUp:
    """Store the pending top-up of a Checkout Session once; returns the stored row (the first, if two raced)."""
    return await repository.insert_top_up(
        session,
        tenant_id,
        key=key,
        amount_minor=amount_minor,
        currency=currency,
        checkout_session_id=checkout.id,
        checkout_url=checkout.url,
        expires_at=checkout.expires_at,
    )


async def tenant_by_checkout_session(admin: AsyncSession, checkout_session_id: str) -> uuid.UUID | None:
    """Cross-tenant lookup (platform_admin) of the tenant whose top-up a Checkout Session pays."""
    return await repository.tenant_by_checkout_session(admin, checkout_session_id)


async def settle_top_up(
    session: AsyncSession, tenant_id: uuid.UUID, event_type: str, obj: dict[str, Any], now: datetime
) -> SettleOutcome:
    """Apply a verified checkout event in the tenant's transaction; returns the outcome.

    Outcomes: `processed` (settled now), `unchanged` (already settled, or nothing to settle yet),
    `mismatch` (paid, but not the amount or currency we asked for), `unmapped` (no such top-up).
    """
    # Lock order of every credit writer: the subscription row first, then the top-up row.
    await lock_subscription(session, tenant_id, now)
    top_up = await repository.lock_top_up_by_session(session, str(obj.get("id")))
    if top_up is None:
        return "unmapped"
    change = settlement(top_up, event_type, obj)
    if change is None:
        return "unchanged"
    credit_id = None
    if change.credit:
        entry = await credit(
            session,
            tenant_id,
            amount_minor=top_up.amount_minor,
            currency=top_up.currency,
            key=f"checkout:{top_up.checkout_session_id}",
            reason="top_up",
            now=now,
        )
        credit_id = entry.id
    await repository.set_top_up_status(
        session, top_up.id, status=change.status, credit_id=credit_id, failure_reason=change.failure_reason, now=now
    )
    return "mismatch" if change.status == "mismatch" else "processed"
