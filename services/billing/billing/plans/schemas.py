"""Plan bodies of the admin API, and what every billing body shares.

Money: integer minor units (`*_minor`); prices and unrounded charges: decimal strings of minor units
(`*_minor_per_1k`, `*_minor`). Every money field of a response names its unit (tests/test_money_units.py).
"""

from __future__ import annotations

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
    field_serializer,
    field_validator,
    model_validator,
)

from aiaas.money import refuse_renamed
from aiaas.storable import storable_text
from billing.plans.catalogue import Plan

__all__ = [
    "CURRENCY_DOC",
    "DECIMAL_DOC",
    "RequestBody",
    "ResponseBody",
    "decimal_text",
    "PlanCode",
    "PriceIn",
    "PlanCreate",
    "PlanUpdate",
    "PriceOut",
    "PlanOut",
    "PlanList",
    "plan_json",
]

CURRENCY_DOC = "ISO 4217 code, lower case, of every `*_minor` amount in this object"
DECIMAL_DOC = "plain decimal string"
_BIG = 10**15


def decimal_text(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseBody(BaseModel):
    # A key a handler adds before the model learns it is passed through, not silently dropped.
    model_config = ConfigDict(extra="allow")


PlanCode = Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Tier = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Minor = Annotated[StrictInt, Field(ge=0, le=_BIG)]
PlanName = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(storable_text)]
Pcts = Annotated[list[Annotated[StrictInt, Field(ge=1, le=1000)]], Field(max_length=10)]

_PRICE_UNIT = 'minor units (cents) of the plan currency per 1,000 tokens, plain decimal string ("0.015" = $0.00015)'
_HIT_FEE_DOC = (
    "What one cache hit (exact or semantic: answered from the gateway's cache, no provider call) costs: minor units"
    ' (cents) of the plan currency per hit, plain decimal string ("0.02" = $0.0002); hits use none of the'
    " included tokens"
)
# Names these prices had before they said their unit; refused with a pointer rather than guessed.
_RENAMED_PRICES = {"input_per_1k": "input_minor_per_1k", "output_per_1k": "output_minor_per_1k"}


def _plain_decimal(value: str) -> str:
    """What numeric(20, 10) holds, as a plain decimal string (no sign, exponent or float)."""
    whole, _, fraction = value.partition(".")
    if not (whole.isascii() and whole.isdigit() and len(whole) <= 10) or (
        fraction and not (fraction.isascii() and fraction.isdigit() and len(fraction) <= 10)
    ):
        raise ValueError("must be a plain decimal string with at most 10 integer and 10 fraction digits")
    return value


HitFee = Annotated[StrictStr, Field(max_length=32, description=_HIT_FEE_DOC), AfterValidator(_plain_decimal)]


class PriceIn(RequestBody):
    input_minor_per_1k: StrictStr = Field(max_length=32, description=f"Input tokens: {_PRICE_UNIT}")
    output_minor_per_1k: StrictStr = Field(max_length=32, description=f"Output tokens: {_PRICE_UNIT}")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, value: object) -> object:
        return refuse_renamed(value, _RENAMED_PRICES, _PRICE_UNIT)

    @field_validator("input_minor_per_1k", "output_minor_per_1k")
    @classmethod
    def _plain_decimal(cls, value: str) -> str:
        return _plain_decimal(value)

    def as_tuple(self) -> tuple[Decimal, Decimal]:
        return Decimal(self.input_minor_per_1k), Decimal(self.output_minor_per_1k)


class PlanCreate(RequestBody):
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
    cache_hit_fee_minor: HitFee = "0"

    @field_serializer("cache_hit_fee_minor")
    def _fee_decimal(self, value: str) -> Decimal:
        return Decimal(value)

    @field_validator("prices")
    @classmethod
    def _has_standard(cls, prices: dict[str, PriceIn]) -> dict[str, PriceIn]:
        if "standard" not in prices:
            raise ValueError("prices must include the 'standard' tier")
        return prices


class PlanUpdate(RequestBody):
    name: PlanName | None = None
    base_fee_minor: Minor | None = Field(None, description="Monthly base fee in integer minor units (cents)")
    included_tokens: Minor | None = None
    included_requests: Minor | None = None
    overage_policy: Literal["block", "bill"] | None = None
    hard_limit_tokens: Minor | None = None
    soft_limit_pcts: Pcts | None = None
    active: StrictBool | None = None
    prices: dict[Tier, PriceIn] = Field(default_factory=dict, max_length=20)
    cache_hit_fee_minor: HitFee | None = Field(None, description=_HIT_FEE_DOC)

    @field_serializer("cache_hit_fee_minor")
    def _fee_decimal(self, value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    @field_validator(
        "name",
        "base_fee_minor",
        "included_tokens",
        "overage_policy",
        "soft_limit_pcts",
        "active",
        "cache_hit_fee_minor",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out = unchanged; null only clears included_requests and hard_limit_tokens (= no limit). The
        # others are NOT NULL columns: an explicit null was Postgres's error, a 500.
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class PriceOut(ResponseBody):
    input_minor_per_1k: str = Field(description=f"Input tokens: minor units (cents) per 1,000 tokens, {DECIMAL_DOC}")
    output_minor_per_1k: str = Field(description=f"Output tokens: minor units (cents) per 1,000 tokens, {DECIMAL_DOC}")


class PlanOut(ResponseBody):
    code: str
    name: str
    currency: str = Field(description=CURRENCY_DOC)
    base_fee_minor: int = Field(description="Monthly base fee in integer minor units (cents) of `currency`")
    included_tokens: int
    included_requests: int | None
    overage_policy: str
    hard_limit_tokens: int | None
    soft_limit_pcts: list[int]
    active: bool
    prices: dict[str, PriceOut] = Field(description="Per pricing tier, in minor units of `currency`")
    cache_hit_fee_minor: str = Field(description=_HIT_FEE_DOC)


class PlanList(ResponseBody):
    data: list[PlanOut]


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
        "cache_hit_fee_minor": decimal_text(plan.cache_hit_fee_minor),
    }
