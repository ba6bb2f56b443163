"""Request and response bodies. Money: integer minor units (`*_minor`); prices and charges: decimal strings
of minor units (`*_minor_per_1k`, `*_minor`). Response models are in billing/api/responses.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from aiaas.money import refuse_renamed
from aiaas.storable import storable_text
from billing.catalogue import Plan
from billing.invoices import Invoice
from billing.invoicing import DraftLine, InvoiceDraft
from billing.subscriptions import Subscription
from billing.usage import PeriodUsage

__all__ = [
    "PlanChoice",
    "AlertEndpointRequest",
    "PriceIn",
    "PlanCreate",
    "PlanUpdate",
    "CloseRequest",
    "decimal_text",
    "plan_json",
    "subscription_json",
    "usage_json",
    "draft_json",
    "invoice_json",
]

_BIG = 10**15
PlanCode = Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Tier = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Minor = Annotated[StrictInt, Field(ge=0, le=_BIG)]
PlanName = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(storable_text)]


def decimal_text(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanChoice(_Body):
    plan: PlanCode


class AlertEndpointRequest(_Body):
    url: StrictStr = Field(min_length=1, max_length=2048)


_PRICE_UNIT = 'minor units (cents) of the plan currency per 1,000 tokens, plain decimal string ("0.015" = $0.00015)'
# Names these prices had before they said their unit; refused with a pointer rather than guessed.
_RENAMED_PRICES = {"input_per_1k": "input_minor_per_1k", "output_per_1k": "output_minor_per_1k"}


class PriceIn(_Body):
    input_minor_per_1k: StrictStr = Field(max_length=32, description=f"Input tokens: {_PRICE_UNIT}")
    output_minor_per_1k: StrictStr = Field(max_length=32, description=f"Output tokens: {_PRICE_UNIT}")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, value: object) -> object:
        return refuse_renamed(value, _RENAMED_PRICES, _PRICE_UNIT)

    @field_validator("input_minor_per_1k", "output_minor_per_1k")
    @classmethod
    def _plain_decimal(cls, value: str) -> str:
        whole, _, fraction = value.partition(".")
        if not (whole.isascii() and whole.isdigit() and len(whole) <= 10) or (
            fraction and not (fraction.isascii() and fraction.isdigit() and len(fraction) <= 10)
        ):
            raise ValueError("must be a plain decimal string with at most 10 integer and 10 fraction digits")
        return value

    def as_tuple(self) -> tuple[Decimal, Decimal]:
        return Decimal(self.input_minor_per_1k), Decimal(self.output_minor_per_1k)


Pcts = Annotated[list[Annotated[StrictInt, Field(ge=1, le=1000)]], Field(max_length=10)]


class PlanCreate(_Body):
    code: PlanCode
    name: PlanName
    currency: StrictStr = Field("usd", pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case")
    base_fee_minor: Minor = Field(0, description="Monthly base fee in integer minor units (cents) of `currency`")
    included_tokens: Minor
    included_requests: Minor | None = None
    overage_policy: Literal["block", "bill"]
    hard_limit_tokens: Minor | None = None
    soft_limit_pcts: Pcts = Field(default_factory=lambda: [80, 100])
    active: StrictBool = True
    prices: dict[Tier, PriceIn] = Field(min_length=1, max_length=20, description="must include 'standard'")

    @field_validator("prices")
    @classmethod
    def _has_standard(cls, prices: dict[str, PriceIn]) -> dict[str, PriceIn]:
        if "standard" not in prices:
            raise ValueError("prices must include the 'standard' tier")
        return prices


class PlanUpdate(_Body):
    name: PlanName | None = None
    base_fee_minor: Minor | None = Field(None, description="Monthly base fee in integer minor units (cents)")
    included_tokens: Minor | None = None
    included_requests: Minor | None = None
    overage_policy: Literal["block", "bill"] | None = None
    hard_limit_tokens: Minor | None = None
    soft_limit_pcts: Pcts | None = None
    active: StrictBool | None = None
    prices: dict[Tier, PriceIn] = Field(default_factory=dict, max_length=20)

    @field_validator("name", "base_fee_minor", "included_tokens", "overage_policy", "soft_limit_pcts", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out = unchanged; null only clears included_requests and hard_limit_tokens (= no limit). The
        # others are NOT NULL columns: an explicit null was Postgres's error, a 500.
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class CloseRequest(_Body):
    now: datetime | None = Field(None, description="close periods ended at this instant (default: now)")

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value


def plan_json(plan: Plan) -> dict[str, object]:
    return {
        "code": plan.code,
        "name": plan.name,
        "currency": plan.currency,
        "base_fee_minor": plan.base_fee_minor,
        "included_tokens": plan.included_tokens,
        "included_requests": plan.included_requests,
        "overage_policy": plan.overage_policy,
        "hard_limit_tokens": plan.hard_limit_tokens,
        "soft_limit_pcts": list(plan.soft_limit_pcts),
        "active": plan.active,
        "prices": {
            tier: {
                "input_minor_per_1k": decimal_text(p.input_minor_per_1k),
                "output_minor_per_1k": decimal_text(p.output_minor_per_1k),
            }
            for tier, p in sorted(plan.prices.items())
        },
    }


def subscription_json(sub: Subscription, plan: Plan) -> dict[str, object]:
    return {
        "plan": plan_json(plan),
        "status": sub.status,
        "current_period_start": sub.current_period_start.isoformat(),
        "current_period_end": sub.current_period_end.isoformat(),
        "plan_since": sub.plan_since.isoformat(),
    }


def usage_json(usage: PeriodUsage) -> dict[str, object]:
    return {
        "period_start": usage.period_start.isoformat(),
        "period_end": usage.period_end.isoformat() if usage.period_end else None,
        "current": usage.is_current,
        "plan": usage.plan,
        "included_tokens": usage.included_tokens,
        "models": [
            {
                "model_alias": m.model_alias,
                "tier": m.tier,
                "tokens_in": m.tokens_in,
                "tokens_out": m.tokens_out,
                "requests": m.requests,
            }
            for m in usage.models
        ],
        "totals": {
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "tokens": usage.tokens_in + usage.tokens_out,
            "requests": usage.requests,
        },
        "currency": usage.currency,
        "overage_charge_minor": decimal_text(usage.charge_minor),
    }


def _line_json(line: DraftLine) -> dict[str, object]:
    return {
        "kind": line.kind,
        "description": line.description,
        "tier": line.tier,
        "meter": line.meter,
        "quantity": line.quantity,
        "included_units": line.included_units,
        "overage_units": line.overage_units,
        "unit_amount_minor": decimal_text(line.unit_amount_minor),
        "amount_minor": line.amount_minor,
    }


def draft_json(draft: InvoiceDraft) -> dict[str, object]:
    return {
        "plan": draft.plan_code,
        "period_start": draft.period_start.isoformat(),
        "period_end": draft.period_end.isoformat(),
        "currency": draft.currency,
        "lines": [_line_json(line) for line in draft.lines],
        "subtotal_minor": draft.subtotal_minor,
        "tax_rate": decimal_text(draft.tax_rate),
        "tax_minor": draft.tax_minor,
        "credits_applied_minor": draft.credits_applied_minor,
        "total_minor": draft.total_minor,
    }


def invoice_json(invoice: Invoice) -> dict[str, object]:
    return {
        "id": str(invoice.id),
        "plan": invoice.plan_code,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "currency": invoice.currency,
        "lines": [_line_json(line) for line in invoice.lines],
        "subtotal_minor": invoice.subtotal_minor,
        "tax_rate": decimal_text(invoice.tax_rate),
        "tax_minor": invoice.tax_minor,
        "credits_applied_minor": invoice.credits_applied_minor,
        "total_minor": invoice.total_minor,
        "status": invoice.status,
        "payment_status": invoice.payment_status,
        "finalized_at": invoice.finalized_at.isoformat(),
    }
