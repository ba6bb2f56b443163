"""The Stripe integration's rules, as pure functions: what a webhook event means, what the sync sends.

Stripe's statuses map onto ours (`subscription_status`, `invoice_payment_status`); a signed body must
have an event's shape before it is recorded (`is_event`); a finalized invoice becomes Stripe invoice
items whose sum is our total (`invoice_items`); a metered usage adds its tokens to the meter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiaas.events.schemas import InvoiceFinalized, UsageMetered
from aiaas.storable import storable_json
from billing.balance.rules import CHECKOUT_EVENTS

__all__ = [
    "HANDLED_EVENTS",
    "SUBSCRIPTION_EVENTS",
    "InvoiceItem",
    "invoice_items",
    "invoice_payment_status",
    "is_event",
    "meter_value",
    "subscription_status",
]

_INVOICE_STATUS = {"invoice.paid": "paid", "invoice.payment_failed": "failed", "invoice.voided": "void"}
SUBSCRIPTION_EVENTS = ("customer.subscription.updated", "customer.subscription.deleted")
HANDLED_EVENTS = frozenset({*_INVOICE_STATUS, *SUBSCRIPTION_EVENTS, *CHECKOUT_EVENTS})
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


def is_event(body: dict[str, Any]) -> bool:
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


def invoice_payment_status(event_type: str) -> str | None:
    """Our invoice payment status an `invoice.*` event sets, or None for other events."""
    return _INVOICE_STATUS.get(event_type)


@dataclass(frozen=True, slots=True)
class InvoiceItem:
    """One Stripe invoice item of an invoice: a line, the credits applied (negative) or the tax."""

    amount_minor: int
    description: str
    metadata: dict[str, str] = field(default_factory=dict)


def meter_value(usage: UsageMetered) -> int:
    """What one metered usage adds to the `aiaas_tokens` meter: its tokens, in and out."""
    return usage.tokens_in + usage.tokens_out


def invoice_items(invoice: InvoiceFinalized) -> list[InvoiceItem]:
    """Stripe invoice items for our lines, then credits (negative) and tax, so the totals agree."""
    items = [
        InvoiceItem(
            line.amount_minor,
            line.description,
            {
                "tier": line.tier or "",
                "quantity": str(line.quantity),
                "unit_amount_minor": format(line.unit_amount_minor, "f"),
            },
        )
        for line in invoice.lines
    ]
    if invoice.credits_applied_minor:
        items.append(InvoiceItem(-invoice.credits_applied_minor, "Prepaid credits applied"))
    if invoice.tax_minor:
        items.append(InvoiceItem(invoice.tax_minor, "Tax"))
    return items
