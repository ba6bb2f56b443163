"""Invoices: the period's charges computed from the ledger; closing a period makes them immutable.

The amounts follow invoices/rules.py; the preview is the same computation on the open period.
Closing is exactly-once: the subscription row lock serialises closers, the invoice is unique per
(tenant, period_start), and the subscription advances to the next period in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.errors import BadRequest, NotFound
from aiaas.events import EventEnvelope, event_id, write_outbox
from aiaas.events.schemas import INVOICE_FINALIZED, InvoiceFinalized, InvoiceLine
from billing.balance.service import add_entry, balance
from billing.invoices import repository
from billing.invoices.rules import base_fee_lines, cache_hit_lines, totals, usage_lines
from billing.invoices.schemas import Invoice, InvoiceDraft
from billing.plans.catalogue import Catalogue
from billing.subscriptions import repository as subscriptions
from billing.subscriptions.rules import add_month
from billing.subscriptions.schemas import Subscription
from billing.subscriptions.service import lock_subscription

__all__ = [
    "check_close_instant",
    "compute_invoice",
    "close_tenant_periods",
    "close_due_periods",
    "list_invoices",
    "get_invoice",
]

# How far `now` may be ahead of this clock when closing (clock skew between hosts).
_MAX_SKEW = timedelta(minutes=1)


def check_close_instant(now: datetime) -> datetime:
    """Periods are closed as of now or a past instant only: closing "in the future" would finalize open periods."""
    if now.tzinfo is None:
        raise BadRequest("now must carry a UTC offset.", code="invalid_now", param="now")
    if now > clock.now() + _MAX_SKEW:
        raise BadRequest("now must not be in the future.", code="invalid_now", param="now")
    return now.astimezone(UTC)


async def compute_invoice(
    session: AsyncSession, catalogue: Catalogue, sub: Subscription, tax_rate: Decimal
) -> InvoiceDraft:
    """The invoice of `sub`'s open period as it stands (read-only)."""
    plan = catalogue.plan(sub.plan_code)
    groups = await repository.usage_groups(session, sub.tenant_id, sub.current_period_start)
    hits = await repository.cache_hit_groups(session, sub.tenant_id, sub.current_period_start)
    lines = [*base_fee_lines(sub, plan), *usage_lines(groups), *cache_hit_lines(hits)]
    debited = await repository.usage_debits(session, sub.tenant_id, sub.current_period_start)
    amounts = totals(lines, tax_rate, debited, await balance(session, sub.tenant_id))
    return InvoiceDraft(
        tenant_id=sub.tenant_id,
        plan_code=plan.code,
        period_start=sub.current_period_start,
        period_end=sub.current_period_end,
        currency=plan.currency,
        lines=lines,
        subtotal_minor=amounts.subtotal_minor,
        tax_rate=tax_rate,
        tax_minor=amounts.tax_minor,
        credits_applied_minor=amounts.credits_applied_minor,
        total_minor=amounts.total_minor,
        usage_debits_minor=debited,
        credit_adjustment_minor=debited - amounts.credits_applied_minor,
    )


async def _finalize(session: AsyncSession, draft: InvoiceDraft, now: datetime) -> uuid.UUID | None:
    invoice_id = await repository.insert_invoice(session, draft, now)
    if invoice_id is None:
        return None  # already closed (only reachable if a period was rewound by hand)
    if draft.credit_adjustment_minor:
        await add_entry(
            session,
            draft.tenant_id,
            amount_minor=draft.credit_adjustment_minor,
            current_balance=await balance(session, draft.tenant_id),
            reason="invoice",
            key=f"invoice:{draft.period_start.isoformat()}",
            period_start=draft.period_start,
        )
    data = InvoiceFinalized(
        invoice_id=invoice_id,
        period_start=draft.period_start,
        period_end=draft.period_end,
        currency=draft.currency,
        subtotal_minor=draft.subtotal_minor,
        credits_applied_minor=draft.credits_applied_minor,
        tax_minor=draft.tax_minor,
        total_minor=draft.total_minor,
        lines=[
            InvoiceLine(
                description=line.description,
                tier=line.tier,
                quantity=line.quantity,
                unit_amount_minor=line.unit_amount_minor,
                amount_minor=line.amount_minor,
            )
            for line in draft.lines
        ],
    )
    await write_outbox(
        session,
        EventEnvelope(
            id=event_id(INVOICE_FINALIZED, str(invoice_id)),
            type=INVOICE_FINALIZED,
            tenant_id=draft.tenant_id,
            occurred_at=now,
            data=data.model_dump(mode="json"),
        ),
    )
    return invoice_id


async def close_tenant_periods(
    session: AsyncSession, catalogue: Catalogue, tenant_id: uuid.UUID, now: datetime, tax_rate: Decimal
) -> list[uuid.UUID]:
    """Close every ended period of one tenant (oldest first); returns the invoices created."""
    created: list[uuid.UUID] = []
    sub = await lock_subscription(session, tenant_id, now)
    while sub.current_period_end <= now:
        draft = await compute_invoice(session, catalogue, sub, tax_rate)
        invoice_id = await _finalize(session, draft, now)
        if invoice_id is not None:
            created.append(invoice_id)
        start = sub.current_period_end
        await subscriptions.advance_period(session, tenant_id, start, add_month(start))
        sub = await lock_subscription(session, tenant_id, now)
    return created


async def close_due_periods(
    admin_sessions: async_sessionmaker[AsyncSession],
    sessions: async_sessionmaker[AsyncSession],
    catalogue: Catalogue,
    now: datetime,
    tax_rate: Decimal,
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Find due subscriptions across tenants (platform_admin), close each in its own tenant transaction."""
    now = check_close_instant(now)
    async with admin_session(admin_sessions) as session:
        due = await subscriptions.due_tenants(session, now)
    closed: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id in due:
        async with tenant_session(sessions, tenant_id) as session:
            invoices = await close_tenant_periods(session, catalogue, tenant_id, now, tax_rate)
        if invoices:
            closed[tenant_id] = invoices
    return closed


async def list_invoices(session: AsyncSession, tenant_id: uuid.UUID, limit: int = 100) -> list[Invoice]:
    """Finalized invoices, newest first."""
    return await repository.list_invoices(session, tenant_id, limit)


async def get_invoice(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    invoice = await repository.get_invoice(session, tenant_id, invoice_id)
    if invoice is None:
        raise NotFound("No such invoice.", code="invoice_not_found")
    return invoice
