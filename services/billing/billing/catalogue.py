"""The plan catalogue (plans, per-tier prices, model tiers), read from Postgres and cached briefly.

Platform-wide tables: app_runtime may only read them, platform_admin edits them through the admin API.
A model alias without a `model_tiers` row is in tier 'standard'; a plan without a price for a tier
charges its 'standard' price (a plan must have one).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.errors import NotFound
from aiaas.quota import UNLIMITED

__all__ = ["DEFAULT_TIER", "DEFAULT_PLAN", "TierPrice", "Plan", "Catalogue", "CatalogueCache", "load_catalogue"]

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


_PLANS = text(
    "select code, name, currency, base_fee_minor, included_tokens, included_requests, overage_policy,"
    " hard_limit_tokens, soft_limit_pcts, active from plans"
)
_PRICES = text("select plan_code, tier, input_minor_per_1k, output_minor_per_1k from plan_prices")
_TIERS = text("select model_alias, tier from model_tiers")


async def load_catalogue(session: AsyncSession) -> Catalogue:
    prices: dict[str, dict[str, TierPrice]] = {}
    for row in (await session.execute(_PRICES)).all():
        prices.setdefault(row.plan_code, {})[row.tier] = TierPrice(row.input_minor_per_1k, row.output_minor_per_1k)
    plans = {
        row.code: Plan(
            code=row.code,
            name=row.name,
            currency=row.currency,
            base_fee_minor=row.base_fee_minor,
            included_tokens=row.included_tokens,
            included_requests=row.included_requests,
            overage_policy=row.overage_policy,
            hard_limit_tokens=row.hard_limit_tokens,
            soft_limit_pcts=tuple(sorted(row.soft_limit_pcts or ())),
            active=row.active,
            prices=prices.get(row.code, {}),
        )
        for row in (await session.execute(_PLANS)).all()
    }
    tiers = {row.model_alias: row.tier for row in (await session.execute(_TIERS)).all()}
    return Catalogue(plans=plans, tiers=tiers)


class CatalogueCache:
    """The catalogue, reloaded when older than `ttl_s` or after `invalidate()` (an admin edit here)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float = 5.0) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._loaded_at = -float("inf")
        self._catalogue: Catalogue | None = None

    def invalidate(self) -> None:
        self._catalogue = None

    async def get(self) -> Catalogue:
        now = time.monotonic()
        if self._catalogue is None or now - self._loaded_at > self._ttl_s:
            async with self._sessions() as session, session.begin():
                self._catalogue = await load_catalogue(session)
            self._loaded_at = now
        return self._catalogue
