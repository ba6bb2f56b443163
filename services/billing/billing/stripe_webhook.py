"""`POST /webhooks/stripe`: verified Stripe events update invoice payment status and subscription status.

The signature is checked with the official SDK (`stripe.Webhook.construct_event`, five
minutes' tolerance); anything unsigned, tampered with or stale is a 400 and changes
nothing. Each event id is recorded once in `stripe_webhook_events`, in the same
platform_admin transaction that finds the tenant, and that transaction commits only
after the tenant's own transaction applied the change: a failure leaves no record, so
Stripe's retry processes the event again, while a redelivery of a recorded event
answers 200 and changes nothing. An event older than one already applied to the same
object is recorded as `stale` and skipped (Stripe does not deliver in order).

    invoice.paid / invoice.payment_failed / invoice.voided -> invoices.payment_status paid / failed / void
    customer.subscription.updated / .deleted                -> subscriptions.status active / past_due / canceled
    checkout.session.completed (paid) / .async_payment_*    -> a top-up paid (credited once) / failed
    checkout.session.expired                                -> a top-up expired (see billing.topups)

The billing app provides a `StripeWebhookContext` as lifespan state `stripe_webhook`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.errors import BadRequest, ServiceUnavailable
from aiaas.storable import storable_json
from billing import stripe_store, topups

__all__ = ["StripeWebhookContext", "apply_event", "router", "subscription_status", "webhook_context"]

log = logging.getLogger(__name__)

_INVOICE_STATUS = {"invoice.paid": "paid", "invoice.payment_failed": "failed", "invoice.voided": "void"}
_SUBSCRIPTION_EVENTS = ("customer.subscription.updated", "customer.subscription.deleted")
_HANDLED = frozenset({*_INVOICE_STATUS, *_SUBSCRIPTION_EVENTS, *topups.CHECKOUT_EVENTS})
# What stripe_webhook_events accepts as an id; `created` is unix seconds (up to the year 9999).
_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9]{1,200}$")
_MAX_CREATED = 253_402_300_799
_SUBSCRIPTION_STATUS = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "incomplete": "past_due",
    "paused": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}


@dataclass(frozen=True, slots=True)
class StripeWebhookContext:
    """What the endpoint needs: the signing secret, both session factories, what to do after a credit."""

    secret: str
    sessions: async_sessionmaker[AsyncSession]
    admin_sessions: async_sessionmaker[AsyncSession]
    tolerance_s: int = 300
    # Called with the tenant after a paid top-up was credited (billing.admin publishes its quota state).
    on_credit: Callable[[uuid.UUID], Awaitable[None]] | None = None


def webhook_context(request: Request) -> StripeWebhookContext:
    """The context the billing app put in lifespan state `stripe_webhook` (override in tests)."""
    return request.state.stripe_webhook


ContextDep = Annotated[StripeWebhookContext, Depends(webhook_context)]
router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/stripe")
async def receive_stripe_event(request: Request, context: ContextDep) -> dict[str, Any]:
    """Verify and apply one Stripe event (idempotent by event id)."""
    if not context.secret:
        raise ServiceUnavailable("Stripe webhooks are not configured.", code="webhook_not_configured")
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("stripe-signature"), context.secret, tolerance=context.tolerance_s
        )
    except stripe.SignatureVerificationError as exc:
        log.warning("stripe webhook refused", extra={"reason": str(exc)[:200]})
        raise BadRequest(
            "The Stripe-Signature header is missing, invalid or too old.", code="invalid_signature"
        ) from exc
    except ValueError as exc:  # not UTF-8, not JSON, or not a Stripe event (signature was valid)
        raise BadRequest("The body is not a Stripe event.", code="invalid_payload") from exc
    body = event.to_dict()  # the verified event as plain JSON types
    if not _is_event(body):
        raise BadRequest("The body is not a Stripe event.", code="invalid_payload")
    outcome = await apply_event(context, body)
    return {"received": True, "id": body["id"], "outcome": outcome}


def _is_event(body: dict[str, Any]) -> bool:
    """Whether a signed body has an event's shape, so recording and applying it cannot fail on its types."""
    data, created = body.get("data"), body.get("created")
    try:
        storable_json(body)  # no NUL, lone surrogate or integer beyond 64 bits in what we store or query
    except ValueError:
        return False
    return (
        isinstance(body.get("id"), str)
        and _EVENT_ID.match(body["id"]) is not None
        and isinstance(body.get("type"), str)
        and 1 <= len(body["type"]) <= 200
        and (data is None or (isinstance(data, dict) and isinstance(data.get("object") or {}, dict)))
        and (created is None or (type(created) is int and 0 <= created <= _MAX_CREATED))
    )


def subscription_status(stripe_status: str) -> str | None:
    """Our subscription status for Stripe's, or None for a status we do not know."""
    return _SUBSCRIPTION_STATUS.get(stripe_status)


async def apply_event(context: StripeWebhookContext, event: dict[str, Any]) -> str:
    """Record and apply a verified event; returns the outcome (`duplicate` for a redelivery)."""
    event_id, event_type = event["id"], event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    created = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
    async with admin_session(context.admin_sessions) as admin:
        if not await stripe_store.claim_webhook_event(admin, event_id, event_type, object_id, created):
            return "duplicate"
        tenant_id, change = await _resolve(admin, event_type, obj)
        if event_type not in _HANDLED:
            outcome = "ignored"
        elif change is None:
            outcome = "unmapped"  # not an invoice or customer we synced, or a status we do not know
        elif object_id is not None and await stripe_store.newer_event_applied(admin, object_id, created, event_id):
            outcome = "stale"
        else:
            assert tenant_id is not None
            async with tenant_session(context.sessions, tenant_id) as session:
                outcome = await change(session)
        await stripe_store.finish_webhook_event(admin, event_id, tenant_id, outcome)
    log.info("stripe webhook", extra={"event_id": event_id, "type": event_type, "outcome": outcome})
    if event_type in topups.CHECKOUT_EVENTS and outcome == "processed" and context.on_credit is not None:
        assert tenant_id is not None
        await context.on_credit(tenant_id)  # after commit: the balance may have grown
    return outcome


# Applies an event in the tenant's transaction; returns the outcome recorded for it.
Change = Callable[[AsyncSession], Awaitable[str]]


async def _processed(change: Callable[[AsyncSession], Awaitable[int]], session: AsyncSession) -> str:
    await change(session)
    return "processed"


async def _resolve(admin: AsyncSession, event_type: str, obj: dict[str, Any]) -> tuple[uuid.UUID | None, Change | None]:
    """The tenant an event is about and the change to make in its transaction (None: nothing to do)."""
    if event_type in _INVOICE_STATUS and isinstance(obj.get("id"), str):
        row = await stripe_store.invoice_by_stripe_id(admin, obj["id"])
        if row is None:
            return None, None
        status = _INVOICE_STATUS[event_type]
        return row.tenant_id, partial(
            _processed, lambda session: stripe_store.set_invoice_payment_status(session, row.invoice_id, status)
        )
    if event_type in _SUBSCRIPTION_EVENTS and isinstance(obj.get("customer"), str):
        tenant_id = await stripe_store.tenant_by_customer(admin, obj["customer"])
        sub_status = "canceled" if event_type.endswith(".deleted") else subscription_status(str(obj.get("status")))
        if tenant_id is None or sub_status is None:
            return tenant_id, None
        subscription_id = str(obj.get("id"))
        return tenant_id, partial(
            _processed,
            lambda session: stripe_store.set_subscription_status(session, tenant_id, subscription_id, sub_status),
        )
    if event_type in topups.CHECKOUT_EVENTS and isinstance(obj.get("id"), str):
        top_up_tenant = await topups.tenant_by_session(admin, obj["id"])
        if top_up_tenant is None:
            return None, None
        return top_up_tenant, partial(_settle_top_up, top_up_tenant, event_type, obj)
    return None, None


async def _settle_top_up(tenant_id: uuid.UUID, event_type: str, obj: dict[str, Any], session: AsyncSession) -> str:
    return await topups.settle(session, tenant_id, event_type, obj, clock.now())
