"""The plan catalogue (plans, per-tier prices, model tiers) as values; plans/service.py caches it.

Platform-wide tables: app_runtime may only read them, platform_admin edits them through the admin API.
A model alias without a `model_tiers` row is in tier 'standard'; a plan without a price for a tier
charges its 'standard' price (a plan must have one). A cache hit (the gateway answered from its cache, no
provider call) costs the plan's `cache_hit_fee_minor` per hit and none of its tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from aiaas.errors import NotFound
from aiaas.quota import UNLIMITED

__all__ = ["DEFAULT_TIER", "DEFAULT_PLAN", "TierPrice", "Plan", "Catalogue"]

DEFAULT_TIER = "standard"
DEFAULT_PLAN = "free"


@dataclass(frozen=True)
class TierPrice:
    """Minor units (cents) of the plan currency per 1,000 tokens, decimal."""

    input_minor_per_1k: Decimal
    output_minor_per_1k: Decimal

    @cached_property
    def input_text(self) -> str:
        return format(self.input_minor_per_1k, "f")

    @cached_property
    def output_text(self) -> str:
        return format(self.output_minor_per_1k, "f")


_FREE_PRICE = TierPrice(Decimal(0), Decimal(0))


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    currency: str
    base_fee_minor: int
    included_tokens: int
    included_requests: int | None
    overage_policy: str
    hard_limit_tokens: int | None
    soft_limit_pcts: tuple[int, ...]
    active: bool
    prices: Mapping[str, TierPrice] = field(default_factory=dict)
    # Minor units (cents) of the plan currency per cache hit (exact or semantic), decimal.
    cache_hit_fee_minor: Decimal = Decimal(0)

    def price(self, tier: str) -> TierPrice:
        return self.prices.get(tier) or self.prices.get(DEFAULT_TIER) or _FREE_PRICE

    @property
    def token_limit(self) -> int:
        """What the gateway enforces: the allowance ('block'), the hard limit or nothing ('bill')."""
        if self.overage_policy == "block":
            return self.included_tokens
        return self.hard_limit_tokens if self.hard_limit_tokens is not None else UNLIMITED

    @property
    def request_limit(self) -> int:
        if self.overage_policy == "block" and self.included_requests is not None:
            return self.included_requests
        return UNLIMITED

    @property
    def limit_name(self) -> str:
        if self.overage_policy == "block":
            return f"plan '{self.code}': {self.included_tokens} tokens per period"
        if self.hard_limit_tokens is not None:
            return f"plan '{self.code}': hard limit of {self.hard_limit_tokens} tokens per period"
        return f"plan '{self.code}'"


@dataclass(frozen=True)
class Catalogue:
    plans: Mapping[str, Plan]
    tiers: Mapping[str, str]

    def plan(self, code: str) -> Plan:
        try:
            return self.plans[code]
        except KeyError:
            raise NotFound(f"No plan '{code}'.", code="plan_not_found", param="plan") from None

    def tier(self, model_alias: str) -> str:
        return self.tiers.get(model_alias, DEFAULT_TIER)
