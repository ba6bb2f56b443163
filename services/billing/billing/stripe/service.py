"""Stripe's verified webhook events applied: invoice payment status, subscription status, top-ups.

Each event id is recorded once in `stripe_webhook_events`, in the same platform_admin transaction
that finds the tenant, and that transaction commits only after the tenant's own transaction applied
the change: a failure leaves no record, so Stripe's retry processes the event again, while a
redelivery of a recorded event changes nothing (`duplicate`). An event older than one already applied
to the same object is recorded as `stale` and skipped (Stripe does not deliver in order). The two
nested transactions are why this module opens its own sessions instead of taking a request's.

    invoice.paid / invoice.payment_failed / invoice.voided -> invoices.payment_status paid / failed / void
    customer.subscription.updated / .deleted                -> subscriptions.status active / past_due / canceled
    checkout.session.completed (paid) / .async_payment_*    -> a top-up paid (credited once) / failed
    checkout.session.expired                                -> a top-up expired (see billing.balance.service)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from billing.balance import service as balance
from billing.stripe import repository
from billing.stripe.rules import HANDLED_EVENTS, SUBSCRIPTION_EVENTS, invoice_payment_status, subscription_status

__all__ = ["StripeWebhookContext", "apply_event"]

log = logging.getLogger(__name__)

# Applies an event in the tenant's transaction; returns the outcome recorded for it.
Change = Callable[[AsyncSession], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class StripeWebhookContext:
    """What the endpoint needs: the signing secret, both session factories, what to do after a credit."""

    secret: str
    sessions: async_sessionmaker[AsyncSession]
    admin_sessions: async_sessionmaker[AsyncSession]
    tolerance_s: int = 300
    # Called with the tenant after a paid top-up was credited (the admin listener publishes its quota state).
    on_credit: Callable[[uuid.UUID], Awaitable[None]] | None = None


async def apply_event(context: StripeWebhookContext, event: dict[str, Any]) -> str:
    """Record and apply a verified event; returns the outcome (`duplicate` for a redelivery)."""
    event_id, event_type = event["id"], event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    created = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
    async with admin_session(context.admin_sessions) as admin:
        if not await repository.claim_webhook_event(admin, event_id, event_type, object_id, created):
            return "duplicate"
        tenant_id, change = await _resolve(admin, event_type, obj)
        if event_type not in HANDLED_EVENTS:
            outcome = "ignored"
        elif change is None:
            outcome = "unmapped"  # not an invoice or customer we synced, or a status we do not know
        elif object_id is not None and await repository.newer_event_applied(admin, object_id, created, event_id):
            outcome = "stale"
        else:
            assert tenant_id is not None  # a change is always about a tenant
            async with tenant_session(context.sessions, tenant_id) as session:
                outcome = await change(session)
        await repository.finish_webhook_event(admin, event_id, tenant_id, outcome)
    log.info("stripe webhook", extra={"event_id": event_id, "type": event_type, "outcome": outcome})
    if event_type in balance.CHECKOUT_EVENTS and outcome == "processed" and context.on_credit is not None:
        assert tenant_id is not None
        await context.on_credit(tenant_id)  # after commit: the balance may have grown
    return outcome


async def _resolve(admin: AsyncSession, event_type: str, obj: dict[str, Any]) -> tuple[uuid.UUID | None, Change | None]:
    """The tenant an event is about and the change to make in its transaction (None: nothing to do)."""
    object_id = obj.get("id")
    invoice_status = invoice_payment_status(event_type)
    if invoice_status is not None and isinstance(object_id, str):
        row = await repository.invoice_by_stripe_id(admin, object_id)
        if row is None:
            return None, None

        async def set_invoice_status(session: AsyncSession) -> str:
            await repository.set_invoice_payment_status(session, row.invoice_id, invoice_status)
            return "processed"

        return row.tenant_id, set_invoice_status
    customer = obj.get("customer")
    if event_type in SUBSCRIPTION_EVENTS and isinstance(customer, str):
        tenant_id = await repository.tenant_by_customer(admin, customer)
        sub_status = "canceled" if event_type.endswith(".deleted") else subscription_status(str(obj.get("status")))
        if tenant_id is None or sub_status is None:
            return tenant_id, None
        subscription_id = str(object_id)

        async def set_subscription_status(session: AsyncSession) -> str:
            await repository.set_subscription_status(session, tenant_id, subscription_id, sub_status)
            return "processed"

        return tenant_id, set_subscription_status
    if event_type in balance.CHECKOUT_EVENTS and isinstance(object_id, str):
        top_up_tenant = await balance.tenant_by_checkout_session(admin, object_id)
        if top_up_tenant is None:
            return None, None

        async def settle_top_up(session: AsyncSession) -> str:
            return await balance.settle_top_up(session, top_up_tenant, event_type, obj, clock.now())

        return top_up_tenant, settle_top_up
    return None, None
