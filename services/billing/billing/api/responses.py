"""Response bodies as OpenAPI documents them; every money field names its unit (tests/test_money_units.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BalanceOut",
    "InvoiceDraftOut",
    "InvoiceList",
    "InvoiceOut",
    "PlanList",
    "PlanOut",
    "SubscriptionOut",
    "UsageOut",
]

_CURRENCY = "ISO 4217 code, lower case, of every `*_minor` amount in this object"
_DECIMAL = "plain decimal string"


class _Out(BaseModel):
    # A key a handler adds before the model learns it is passed through, not silently dropped.
    model_config = ConfigDict(extra="allow")


class PriceOut(_Out):
    input_minor_per_1k: str = Field(description=f"Input tokens: minor units (cents) per 1,000 tokens, {_DECIMAL}")
    output_minor_per_1k: str = Field(description=f"Output tokens: minor units (cents) per 1,000 tokens, {_DECIMAL}")


class PlanOut(_Out):
    code: str
    name: str
    currency: str = Field(description=_CURRENCY)
    base_fee_minor: int = Field(description="Monthly base fee in integer minor units (cents) of `currency`")
    included_tokens: int
    included_requests: int | None
    overage_policy: str
    hard_limit_tokens: int | None
    soft_limit_pcts: list[int]
    active: bool
    prices: dict[str, PriceOut] = Field(description="Per pricing tier, in minor units of `currency`")


class PlanList(_Out):
    data: list[PlanOut]


class SubscriptionOut(_Out):
    plan: PlanOut
    status: str
    current_period_start: str
    current_period_end: str
    plan_since: str


class ModelUsageOut(_Out):
    model_alias: str
    tier: str
    tokens_in: int
    tokens_out: int
    requests: int


class UsageTotalsOut(_Out):
    tokens_in: int
    tokens_out: int
    tokens: int
    requests: int


class UsageOut(_Out):
    period_start: str
    period_end: str | None
    current: bool
    plan: str
    included_tokens: int
    models: list[ModelUsageOut]
    totals: UsageTotalsOut = Field(description="Token and request counts of the period (no money)")
    currency: str = Field(description=_CURRENCY)
    overage_charge_minor: str = Field(
        description=f"Overage metered so far in minor units (cents) of `currency`, unrounded {_DECIMAL}"
    )


class InvoiceLineOut(_Out):
    kind: str
    description: str
    tier: str | None
    meter: str | None
    quantity: int
    included_units: int
    overage_units: int
    unit_amount_minor: str = Field(
        description=f"Minor units (cents), {_DECIMAL}: per 1,000 overage tokens on usage lines,"
        " the fee on base fee lines"
    )
    amount_minor: int = Field(description="Line amount in integer minor units (cents), rounded half-up")


class InvoiceDraftOut(_Out):
    plan: str
    period_start: str
    period_end: str
    currency: str = Field(description=_CURRENCY)
    lines: list[InvoiceLineOut]
    subtotal_minor: int = Field(description="Sum of the lines, integer minor units (cents)")
    tax_rate: str = Field(description=f"Fraction of the subtotal, {_DECIMAL} (0.2 = 20 %)")
    tax_minor: int = Field(description="Tax in integer minor units (cents)")
    credits_applied_minor: int = Field(description="Prepaid credit applied, integer minor units (cents)")
    total_minor: int = Field(description="Amount due = subtotal + tax - credits applied, integer minor units (cents)")


class InvoiceOut(InvoiceDraftOut):
    id: str
    status: str
    payment_status: str
    finalized_at: str


class InvoiceList(_Out):
    data: list[InvoiceOut]


class BalanceOut(_Out):
    balance_minor: int = Field(description="Prepaid credit balance in integer minor units (cents) of `currency`")
    currency: str = Field(description=_CURRENCY)
