"""A tenant's routing policy: its tiers (cheapest first) and the knobs of the decision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiaas.money import refuse_renamed

__all__ = ["TIER_PATTERN", "MAX_LATENCY_SLO_MS", "TierName", "TierSpec", "PolicyIn", "Policy"]

MAX_LATENCY_SLO_MS = 86_400_000  # one day: the column is an integer
TIER_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
TierName = Annotated[str, Field(pattern=TIER_PATTERN, description="A tier name, e.g. cheap or strong")]


class TierSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _old_money_names(cls, value: object) -> object:
        return refuse_renamed(value, {"price_per_1k": "price_usd_per_1k"}, "US dollars")

    name: TierName
    alias: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$", description="The gateway model alias that serves the tier"
    )
    price_usd_per_1k: float = Field(ge=0, le=1000, allow_inf_nan=False, description="US dollars per 1,000 tokens")


class PolicyIn(BaseModel):
    """What `PUT /v1/router/policy` replaces the tenant's policy with (every field; tiers cheapest first)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _old_money_names(cls, value: object) -> object:
        return refuse_renamed(value, {"max_cost": "max_cost_usd"}, "US dollars")

    tiers: list[TierSpec] = Field(min_length=1, max_length=8)
    lambda_: float = Field(
        alias="lambda", ge=0, le=1e6, allow_inf_nan=False, description="US dollars one failed answer is worth"
    )
    max_cost_usd: float | None = Field(
        None, ge=0, le=1e6, allow_inf_nan=False, description="Most US dollars one request may be expected to cost"
    )
    exploration_cap: float = Field(0.05, ge=0, le=1, allow_inf_nan=False)
    early_exit_bar: float = Field(0.9, ge=0, le=1, allow_inf_nan=False)
    pinned_tier: TierName | None = None
    canary_share: float | None = Field(
        None, ge=0, le=1, allow_inf_nan=False, description="This tenant's share of a canary router version"
    )
    latency_slo_ms: int | None = Field(
        None,
        gt=0,
        le=MAX_LATENCY_SLO_MS,
        description="A routed request slower than this (milliseconds, the gateway's usage event) counts as a "
        "failure of its decision; null = no latency objective",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PolicyIn:
        names = [tier.name for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        if self.pinned_tier is not None and self.pinned_tier not in names:
            raise ValueError("pinned_tier must be one of the tiers")
        return self

    @property
    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers]


class Policy(PolicyIn):
    """The policy in force: the tenant's own, or the platform default when it has none."""

    source: Literal["tenant", "platform"]
    updated_at: datetime | None = None
