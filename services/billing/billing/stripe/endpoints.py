"""`POST /webhooks/stripe`: Stripe's signed events, verified and applied once (billing.stripe.service).

The signature is checked with the official SDK (`stripe.Webhook.construct_event`, five minutes'
tolerance); anything unsigned, tampered with or stale is a 400 and changes nothing. The admin
listener provides a `StripeWebhookContext` as lifespan state `stripe_webhook`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Request

from aiaas.errors import BadRequest, ServiceUnavailable
from billing.stripe.rules import is_event
from billing.stripe.service import StripeWebhookContext, apply_event

__all__ = ["router", "webhook_context"]

log = logging.getLogger(__name__)


def webhook_context(request: Request) -> StripeWebhookContext:
    """The context the admin listener put in lifespan state `stripe_webhook` (override in tests)."""
    context: StripeWebhookContext = request.state.stripe_webhook
    return context


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
    if not is_event(body):
        raise BadRequest("The body is not a Stripe event.", code="invalid_payload")
    outcome = await apply_event(context, body)
    return {"received": True, "id": body["id"], "outcome": outcome}
