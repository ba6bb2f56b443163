"""Creates the Stripe Checkout Session (mode=payment) a tenant pays a top-up through.

One session per tenant and Idempotency-Key: the Stripe call carries the idempotency key
`aiaas-top-up:<tenant>:<key>`, so a retried or repeated request gets the same session back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import stripe
from stripe import RequestOptions
from stripe.params.checkout import SessionCreateParams

from aiaas.errors import BadRequest, ServiceUnavailable, UpstreamError
from billing.balance.rules import IdempotencyConflict
from billing.balance.schemas import CheckoutSession
from billing.stripe.client import StripeApi

__all__ = ["create_checkout_session"]

PRODUCT_NAME = "AIaaS prepaid credit"


async def create_checkout_session(
    api: StripeApi | None,
    *,
    tenant_id: uuid.UUID,
    key: str,
    amount_minor: int,
    currency: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    """The Checkout Session for one top-up: its id, the page to pay at and when it expires."""
    if api is None:
        raise ServiceUnavailable("Top-ups need Stripe: set STRIPE_API_KEY.", code="payments_not_configured")
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount_minor,
                    "product_data": {"name": PRODUCT_NAME},
                },
                "quantity": 1,
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(tenant_id),
        "metadata": {"tenant_id": str(tenant_id), "top_up_idempotency_key": key},
    }
    options: RequestOptions = {"idempotency_key": f"aiaas-top-up:{tenant_id}:{key}"}
    try:
        session = await api.call(
            lambda: api.client.v1.checkout.sessions.create_async(params=params, options=options),
            "checkout.sessions.create",
        )
    except stripe.IdempotencyError as exc:
        raise IdempotencyConflict(
            "This Idempotency-Key was used for a top-up with other parameters.", param="Idempotency-Key"
        ) from exc
    except stripe.InvalidRequestError as exc:
        if exc.param in ("success_url", "cancel_url"):  # the only caller input Stripe judges
            raise BadRequest("Stripe refused this URL.", code="invalid_url", param=exc.param) from exc
        raise UpstreamError("Stripe did not create the Checkout Session.", code="payment_provider_error") from exc
    except stripe.StripeError as exc:
        raise UpstreamError("Stripe did not create the Checkout Session.", code="payment_provider_error") from exc
    expires_at = None if session.expires_at is None else datetime.fromtimestamp(session.expires_at, tz=UTC)
    return CheckoutSession(id=session.id, url=session.url, expires_at=expires_at)
