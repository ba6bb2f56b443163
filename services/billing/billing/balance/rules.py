"""The balance's rules, as pure functions: ledger arithmetic, top-up bounds and replays, checkout settlement.

A checkout event settles a pending top-up once (`settlement`); a settled one never changes again,
and only a paid session of exactly the amount and currency asked for is credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aiaas.errors import BadRequest, PlatformError
from billing.balance.schemas import CreditGrant, TopUp

__all__ = [
    "CHECKOUT_EVENTS",
    "IdempotencyConflict",
    "Settlement",
    "TopUpStatus",
    "balance_after",
    "check_grant_replay",
    "check_top_up_amount",
    "check_top_up_replay",
    "checkout_verdict",
    "settlement",
    "top_up_currency",
]

TopUpStatus = Literal["pending", "paid", "failed", "expired", "mismatch"]

CHECKOUT_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
_ASYNC_VERDICTS: dict[str, TopUpStatus] = {
    "checkout.session.async_payment_succeeded": "paid",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
}
_FAILURE_REASONS: dict[TopUpStatus, str] = {
    "failed": "The payment failed.",
    "expired": "The Checkout Session expired unpaid.",
}


class IdempotencyConflict(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a checkout event does to a pending top-up: its new status, and whether to credit it."""

    status: TopUpStatus
    credit: bool
    failure_reason: str | None


# --- pure rules


def balance_after(current_minor: int, amount_minor: int) -> int:
    """The running balance a ledger row records: the balance before it plus its (signed) amount."""
    return current_minor + amount_minor


def check_top_up_amount(amount_minor: int, max_minor: int) -> None:
    """A top-up buys at most `max_minor` (BILLING_MAX_TOP_UP_MINOR); the body already asks for > 0."""
    if amount_minor > max_minor:
        raise BadRequest(f"amount_minor must be at most {max_minor}.", code="amount_too_large", param="amount_minor")


def top_up_currency(requested: str | None, plan_currency: str) -> str:
    """The balance has the plan's currency and there is no conversion: a top-up is in it or refused."""
    if requested is not None and requested != plan_currency:
        raise BadRequest(
            f"Top-ups are in the plan currency, {plan_currency}.", code="currency_mismatch", param="currency"
        )
    return plan_currency


def check_top_up_replay(existing: TopUp, amount_minor: int, currency: str) -> None:
    """A repeated Idempotency-Key must ask for the same top-up it first did."""
    if (existing.amount_minor, existing.currency) != (amount_minor, currency):
        raise IdempotencyConflict(
            "This Idempotency-Key was used for a top-up of another amount.", param="Idempotency-Key"
        )


def check_grant_replay(existing: CreditGrant, amount_minor: int, reason: str) -> None:
    """A repeated Idempotency-Key must ask for the same grant it first did."""
    if (existing.amount_minor, existing.reason) != (amount_minor, reason):
        raise IdempotencyConflict(
            "This Idempotency-Key was used for a grant of another amount or reason.", param="Idempotency-Key"
        )


def checkout_verdict(event_type: str, obj: dict[str, Any]) -> TopUpStatus | None:
    """The status a checkout event asks for, or None when it settles nothing (completed, payment pending)."""
    if event_type == "checkout.session.completed":
        return "paid" if obj.get("payment_status") == "paid" else None
    return _ASYNC_VERDICTS.get(event_type)


def settlement(top_up: TopUp, event_type: str, obj: dict[str, Any]) -> Settlement | None:
    """What the event does to the top-up; None when nothing (already settled, or nothing to settle yet)."""
    verdict = checkout_verdict(event_type, obj)
    if top_up.status != "pending" or verdict is None:
        return None
    if verdict != "paid":
        return Settlement(verdict, credit=False, failure_reason=_FAILURE_REASONS[verdict])
    paid = (obj.get("amount_total"), obj.get("currency"))
    if paid != (top_up.amount_minor, top_up.currency):
        return Settlement("mismatch", credit=False, failure_reason=f"Stripe reported {paid[0]!r} {paid[1]!r}")
    return Settlement("paid", credit=True, failure_reason=None)
