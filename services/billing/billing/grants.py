"""Credit granted by a platform admin, with a reason: the audit row and the credit commit together.

Runs as platform_admin (the tenant is a path parameter, not the caller). One grant per tenant and
Idempotency-Key: a repeat with the same amount and reason returns the first grant; with others, 409.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.credits import IdempotencyConflict, credit
from billing.subscriptions import lock_subscription

__all__ = ["CreditGrant", "grant_credit", "list_grants"]


@dataclass(frozen=True, slots=True)
class CreditGrant:
    id: uuid.UUID
    tenant_id: uuid.UUID
    amount_minor: int
    currency: str
    reason: str
    actor: str
    admin_key_id: uuid.UUID | None
    credit_id: int
    created_at: datetime


_COLS = "id, tenant_id, amount_minor, currency, reason, actor, admin_key_id, credit_id, created_at"
_BY_KEY = text(f"select {_COLS} from credit_grants where tenant_id = :tid and idempotency_key = :key")  # noqa: S608  # nosec B608
_LIST = text(f"select {_COLS} from credit_grants where tenant_id = :tid order by created_at desc, id limit :limit")  # noqa: S608  # nosec B608
_INSERT = text(
    "insert into credit_grants (tenant_id, idempotency_key, amount_minor, currency, reason, actor, admin_key_id,"  # noqa: S608  # nosec B608
    " credit_id, created_at) values (:tid, :key, :amount, :currency, :reason, :actor, :admin_key_id, :credit_id,"
    f" :now) returning {_COLS}"
)


def _grant(row: Any) -> CreditGrant:
    return CreditGrant(**row._mapping)


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
    """Credit the tenant and record who, when, how much and why; returns (grant, created)."""
    # Taken before the key check, so a concurrent repeat of the same key waits and then finds the grant.
    await lock_subscription(session, tenant_id, now)
    row = (await session.execute(_BY_KEY, {"tid": tenant_id, "key": idempotency_key})).first()
    if row is not None:
        existing = _grant(row)
        if (existing.amount_minor, existing.reason) != (amount_minor, reason):
            raise IdempotencyConflict(
                "This Idempotency-Key was used for a grant of another amount or reason.", param="Idempotency-Key"
            )
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
    inserted = await session.execute(
        _INSERT,
        {
            "tid": tenant_id,
            "key": idempotency_key,
            "amount": amount_minor,
            "currency": currency,
            "reason": reason,
            "actor": actor,
            "admin_key_id": admin_key_id,
            "credit_id": entry.id,
            "now": now,
        },
    )
    return _grant(inserted.one()), True


async def list_grants(session: AsyncSession, tenant_id: uuid.UUID, limit: int = 100) -> list[CreditGrant]:
    """A tenant's grants, newest first."""
    return [_grant(row) for row in await session.execute(_LIST, {"tid": tenant_id, "limit": limit})]
