"""All SQL of the Stripe integration: customer and invoice mappings, webhook events, state updates.

Mapping reads and writes made by the sync run as the tenant (`tenant_session`); the
webhook, which has no tenant credentials, finds the tenant as platform_admin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "StripeInvoiceRow",
    "TenantName",
    "claim_webhook_event",
    "customer_id",
    "finish_webhook_event",
    "insert_customer",
    "insert_invoice",
    "invoice_by_stripe_id",
    "mark_invoice_synced",
    "newer_event_applied",
    "set_invoice_payment_status",
    "set_subscription_status",
    "stripe_invoice",
    "tenant_by_customer",
    "tenant_name",
]


@dataclass(frozen=True, slots=True)
class TenantName:
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class StripeInvoiceRow:
    invoice_id: uuid.UUID
    tenant_id: uuid.UUID
    stripe_invoice_id: str
    synced_at: datetime | None


async def tenant_name(session: AsyncSession, tenant_id: uuid.UUID) -> TenantName | None:
    row = (await session.execute(text("select name, slug from tenants where id = :tid"), {"tid": tenant_id})).first()
    return None if row is None else TenantName(row.name, row.slug)


async def customer_id(session: AsyncSession, tenant_id: uuid.UUID) -> str | None:
    query = text("select stripe_customer_id from stripe_customers where tenant_id = :tid")
    return (await session.execute(query, {"tid": tenant_id})).scalar_one_or_none()


async def insert_customer(session: AsyncSession, tenant_id: uuid.UUID, stripe_customer_id: str) -> str:
    """Store the mapping once; returns the stored id (the first writer's, if two raced)."""
    await session.execute(
        text(
            "insert into stripe_customers (tenant_id, stripe_customer_id) values (:tid, :cid) "
            "on conflict (tenant_id) do nothing"
        ),
        {"tid": tenant_id, "cid": stripe_customer_id},
    )
    stored = await customer_id(session, tenant_id)
    assert stored is not None
    return stored


_INVOICE_ROW = "select invoice_id, tenant_id, stripe_invoice_id, synced_at from stripe_invoices where "


async def _invoice_row(session: AsyncSession, where: str, value: object) -> StripeInvoiceRow | None:
    row = (await session.execute(text(_INVOICE_ROW + where), {"value": value})).first()
    return (
        None if row is None else StripeInvoiceRow(row.invoice_id, row.tenant_id, row.stripe_invoice_id, row.synced_at)
    )


async def stripe_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> StripeInvoiceRow | None:
    """The Stripe invoice an invoice was synced to (in the tenant's transaction)."""
    return await _invoice_row(session, "invoice_id = :value", invoice_id)


async def insert_invoice(
    session: AsyncSession, invoice_id: uuid.UUID, tenant_id: uuid.UUID, stripe_invoice_id: str
) -> StripeInvoiceRow:
    """Store the mapping as soon as the Stripe invoice exists (not yet synced); returns the stored row."""
    await session.execute(
        text(
            "insert into stripe_invoices (invoice_id, tenant_id, stripe_invoice_id) values (:iid, :tid, :sid) "
            "on conflict (invoice_id) do nothing"
        ),
        {"iid": invoice_id, "tid": tenant_id, "sid": stripe_invoice_id},
    )
    stored = await stripe_invoice(session, invoice_id)
    assert stored is not None
    return stored


async def mark_invoice_synced(session: AsyncSession, invoice_id: uuid.UUID) -> None:
    await session.execute(
        text("update stripe_invoices set synced_at = coalesce(synced_at, now()) where invoice_id = :iid"),
        {"iid": invoice_id},
    )


async def invoice_by_stripe_id(session: AsyncSession, stripe_invoice_id: str) -> StripeInvoiceRow | None:
    """Cross-tenant lookup (platform_admin) of the invoice a Stripe invoice stands for."""
    return await _invoice_row(session, "stripe_invoice_id = :value", stripe_invoice_id)


async def tenant_by_customer(session: AsyncSession, stripe_customer_id: str) -> uuid.UUID | None:
    """Cross-tenant lookup (platform_admin) of the tenant a Stripe customer stands for."""
    query = text("select tenant_id from stripe_customers where stripe_customer_id = :cid")
    return (await session.execute(query, {"cid": stripe_customer_id})).scalar_one_or_none()


async def claim_webhook_event(
    session: AsyncSession, event_id: str, event_type: str, object_id: str | None, created: datetime
) -> bool:
    """Insert the event once; False when it was already received (a redelivery).

    The new row stays locked until the caller's transaction ends, so a concurrent
    delivery of the same event waits here and then sees the conflict.
    """
    inserted = await session.execute(
        text(
            "insert into stripe_webhook_events (event_id, type, object_id, event_created) "
            "values (:eid, :type, :oid, :created) on conflict (event_id) do nothing returning event_id"
        ),
        {"eid": event_id, "type": event_type, "oid": object_id, "created": created},
    )
    return inserted.first() is not None


async def newer_event_applied(session: AsyncSession, object_id: str, created: datetime, event_id: str) -> bool:
    """Was a newer event about the same object already applied? (Stripe does not deliver in order.)"""
    query = text(
        "select 1 from stripe_webhook_events where object_id = :oid and event_created > :created "
        "and outcome = 'processed' and event_id <> :eid limit 1"
    )
    return (await session.execute(query, {"oid": object_id, "created": created, "eid": event_id})).first() is not None


async def finish_webhook_event(session: AsyncSession, event_id: str, tenant_id: uuid.UUID | None, outcome: str) -> None:
    await session.execute(
        text(
            "update stripe_webhook_events set tenant_id = :tid, outcome = :outcome, processed_at = now() "
            "where event_id = :eid"
        ),
        {"eid": event_id, "tid": tenant_id, "outcome": outcome},
    )


async def set_invoice_payment_status(session: AsyncSession, invoice_id: uuid.UUID, status: str) -> int:
    """Set billing's invoice payment status (in the tenant's transaction); returns rows changed."""
    result = await session.execute(
        text("update invoices set payment_status = :status where id = :iid and payment_status <> :status"),
        {"iid": invoice_id, "status": status},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult; execute() types Result


async def set_subscription_status(
    session: AsyncSession, tenant_id: uuid.UUID, stripe_subscription_id: str, status: str
) -> int:
    """Set the tenant's subscription status, unless it is tied to another Stripe subscription."""
    result = await session.execute(
        text(
            "update subscriptions set status = :status, updated_at = now() where tenant_id = :tid "
            "and (stripe_subscription_id is null or stripe_subscription_id = :sub) and status <> :status"
        ),
        {"tid": tenant_id, "sub": stripe_subscription_id, "status": status},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult; execute() types Result
