"""Bodies of the balance, paid top-ups (tenant) and credit grants (platform admin); money is integer minor units."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StrictInt, StrictStr, field_validator

from aiaas.storable import storable_text
from billing.plans.schemas import CURRENCY_DOC, RequestBody, ResponseBody

__all__ = [
    "BalanceOut",
    "CheckoutSession",
    "CreditEntry",
    "CreditGrant",
    "TopUp",
    "CreditGrantList",
    "CreditGrantOut",
    "CreditGrantRequest",
    "TopUpOut",
    "TopUpRequest",
    "credit_grant_json",
    "top_up_json",
]

_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
_CURRENCY = "ISO 4217 code, lower case, of `amount_minor`; the tenant's plan currency"
_AMOUNT = "Credit in integer minor units (cents) of `currency`"
_MAX_GRANT_MINOR = 10**15


# --- rows (what the repository reads)


@dataclass(frozen=True, slots=True)
class CreditEntry:
    id: int
    amount_minor: int
    balance_after_minor: int
    reason: str
    idempotency_key: str
    created_at: datetime


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


@dataclass(frozen=True, slots=True)
class TopUp:
    id: uuid.UUID
    idempotency_key: str
    amount_minor: int
    currency: str
    status: str
    checkout_session_id: str
    checkout_url: str | None
    expires_at: datetime | None
    credit_id: int | None
    failure_reason: str | None
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """The payment page a top-up is paid through (a Stripe Checkout Session)."""

    id: str
    url: str | None
    expires_at: datetime | None


# --- request and response bodies


class BalanceOut(ResponseBody):
    balance_minor: int = Field(description="Prepaid credit balance in integer minor units (cents) of `currency`")
    currency: str = Field(description=CURRENCY_DOC)


class TopUpRequest(RequestBody):
    amount_minor: StrictInt = Field(
        gt=0, description="Integer minor units (cents) of `currency` to buy, at most BILLING_MAX_TOP_UP_MINOR"
    )
    currency: StrictStr | None = Field(
        None, pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case; must be the plan currency (the default)"
    )
    success_url: StrictStr | None = Field(
        None,
        max_length=2000,
        description="Where Stripe sends the customer after paying (default BILLING_TOP_UP_SUCCESS_URL)",
    )
    cancel_url: StrictStr | None = Field(
        None,
        max_length=2000,
        description="Where Stripe sends the customer on cancel (default BILLING_TOP_UP_CANCEL_URL)",
    )

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Printable ASCII only (percent-encode the rest), a scheme and a host: what Stripe accepts.
        try:
            parts = urlsplit(value) if _PRINTABLE.match(value) else None
            host = parts.hostname if parts is not None else None
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise ValueError("must be an absolute http(s) URL of printable ASCII characters")
        return value


class TopUpOut(BaseModel):
    top_up_id: uuid.UUID
    status: Literal["pending", "paid", "failed", "expired", "mismatch"] = Field(
        description="pending until Stripe's webhook settles it; only `paid` added credit"
    )
    amount_minor: int = Field(description=_AMOUNT)
    currency: str = Field(description=_CURRENCY)
    checkout_session_id: str = Field(description="The Stripe Checkout Session the customer pays")
    checkout_url: str | None = Field(description="Send the customer here to pay (null once the session ended)")
    expires_at: datetime | None
    credited_minor: int = Field(description="Credit this top-up added: integer minor units (cents) of `currency`")
    failure_reason: str | None
    created_at: datetime
    settled_at: datetime | None


def top_up_json(top_up: TopUp) -> dict[str, object]:
    return {
        "top_up_id": str(top_up.id),
        "status": top_up.status,
        "amount_minor": top_up.amount_minor,
        "currency": top_up.currency,
        "checkout_session_id": top_up.checkout_session_id,
        "checkout_url": top_up.checkout_url if top_up.status == "pending" else None,
        "expires_at": None if top_up.expires_at is None else top_up.expires_at.isoformat(),
        "credited_minor": top_up.amount_minor if top_up.status == "paid" else 0,
        "failure_reason": top_up.failure_reason,
        "created_at": top_up.created_at.isoformat(),
        "settled_at": None if top_up.settled_at is None else top_up.settled_at.isoformat(),
    }


class CreditGrantRequest(RequestBody):
    # Bounded so that a grant (and many of them) fits the ledger's bigint; was a 500 beyond it.
    amount_minor: StrictInt = Field(
        gt=0,
        le=_MAX_GRANT_MINOR,
        description="Credit to grant: integer minor units (cents) of the tenant's plan currency",
    )
    reason: Annotated[StrictStr, AfterValidator(storable_text)] = Field(
        min_length=1, max_length=1000, description="Why (kept in the audit)"
    )

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class CreditGrantOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    amount_minor: int = Field(description=_AMOUNT)
    currency: str = Field(description=_CURRENCY)
    reason: str
    actor: str = Field(description="The platform admin who granted it")
    admin_key_id: uuid.UUID | None = Field(description="The admin key used, where keys are named")
    balance_after_minor: int | None = Field(
        None, description="Balance after the grant: integer minor units (cents) of `currency` (on creation only)"
    )
    created_at: datetime


class CreditGrantList(BaseModel):
    data: list[CreditGrantOut]


def credit_grant_json(grant: CreditGrant, balance_after_minor: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "id": str(grant.id),
        "tenant_id": str(grant.tenant_id),
        "amount_minor": grant.amount_minor,
        "currency": grant.currency,
        "reason": grant.reason,
        "actor": grant.actor,
        "admin_key_id": None if grant.admin_key_id is None else str(grant.admin_key_id),
        "created_at": grant.created_at.isoformat(),
    }
    if balance_after_minor is not None:
        body["balance_after_minor"] = balance_after_minor
    return body
