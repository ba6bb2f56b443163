"""The metering rule, as pure functions: allowance first, then the tier price; debits by whole minor units.

The plan's included tokens are consumed in the order events are metered, within an event input tokens
first; tokens beyond the allowance cost the plan's price for the model's tier. Credit debits follow the
period's running charge in whole minor units (a debit whenever the running total passes a cent), so
fractions are neither lost nor rounded per event; the balance never goes negative.

A cache hit (the gateway answered from its cache) has no provider tokens: it uses none of the allowance,
counts as a request and as a hit of its kind (meters `cache_hits_exact` / `cache_hits_semantic`, and the
answer's tokens under `cached_tokens`), and costs the plan's `cache_hit_fee_minor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from billing.alerts.rules import Crossing, crossed_thresholds, threshold_tokens
from billing.metering.schemas import Usage
from billing.plans.catalogue import Catalogue, Plan, TierPrice
from billing.plans.pricing import floor_minor, token_charge

__all__ = [
    "included_split",
    "overage_charge",
    "debit_minor",
    "MeterStart",
    "MeteredLine",
    "Debit",
    "MeterOutcome",
    "meter_usages",
]


def included_split(tokens_in: int, tokens_out: int, remaining: int) -> tuple[int, int]:
    """(input, output) tokens covered by the `remaining` allowance, input first."""
    inc_in = min(tokens_in, max(remaining, 0))
    return inc_in, min(tokens_out, max(remaining, 0) - inc_in)


def overage_charge(tokens_in: int, tokens_out: int, price: TierPrice) -> Decimal:
    """Unrounded minor units for tokens beyond the allowance at `price`."""
    return token_charge(tokens_in, price.input_minor_per_1k) + token_charge(tokens_out, price.output_minor_per_1k)


def debit_minor(running: Decimal, charge: Decimal, balance: int) -> int:
    """Whole minor units to debit when the period's running charge grows by `charge` (never past `balance`)."""
    whole = floor_minor(running + charge) - floor_minor(running)
    return max(min(whole, balance), 0)


@dataclass(frozen=True)
class MeterStart:
    """A tenant's period as the meter finds it (under the subscription lock)."""

    used_tokens: int
    running_charge_minor: Decimal
    balance_minor: int


@dataclass(frozen=True)
class MeteredLine:
    """One usage event as metered: its tier and price, the allowance it used and what it costs."""

    usage: Usage
    tier: str
    price: TierPrice
    included_in: int
    included_out: int
    charge_minor: Decimal
    # The plan's fee per hit when this is a cache hit, else 0.
    cache_hit_fee_minor: Decimal = Decimal(0)


@dataclass(frozen=True)
class Debit:
    amount_minor: int  # negative: credit taken
    balance_after_minor: int
    key: str


@dataclass
class MeterOutcome:
    lines: list[MeteredLine] = field(default_factory=list)
    # (model alias, meter) -> quantity added
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    debits: list[Debit] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    total_charge_minor: Decimal = Decimal(0)
    used_tokens: int = 0
    balance_minor: int = 0


def _meters(usage: Usage) -> tuple[tuple[str, int], ...]:
    """The counters one event adds to (meter, quantity)."""
    if usage.cache_hit:
        return (("requests", 1), (f"cache_hits_{usage.cache_status}", 1), ("cached_tokens", usage.cached_tokens))
    return (("tokens_in", usage.tokens_in), ("tokens_out", usage.tokens_out), ("requests", 1))


def meter_usages(plan: Plan, catalogue: Catalogue, start: MeterStart, usages: list[Usage]) -> MeterOutcome:
    """Meter `usages` in order from `start`: allowance, charges, counters, debits and soft-limit crossings."""
    out = MeterOutcome(used_tokens=start.used_tokens, balance_minor=start.balance_minor)
    remaining = max(plan.included_tokens - start.used_tokens, 0)
    thresholds = threshold_tokens(plan)
    running = start.running_charge_minor
    for usage in usages:
        tier = catalogue.tier(usage.model_alias)
        price = plan.price(tier)
        # A hit has no provider tokens (Usage.from_event): the allowance is untouched, the fee is its charge.
        inc_in, inc_out = included_split(usage.tokens_in, usage.tokens_out, remaining)
        remaining -= inc_in + inc_out
        fee = plan.cache_hit_fee_minor if usage.cache_hit else Decimal(0)
        charge = overage_charge(usage.tokens_in - inc_in, usage.tokens_out - inc_out, price) + fee
        before = out.used_tokens
        out.used_tokens += usage.tokens_in + usage.tokens_out
        out.crossings.extend(crossed_thresholds(thresholds, before, out.used_tokens))
        for meter, quantity in _meters(usage):
            out.counters[(usage.model_alias, meter)] = out.counters.get((usage.model_alias, meter), 0) + quantity
        if charge:
            debit = debit_minor(running, charge, out.balance_minor)
            running += charge
            out.total_charge_minor += charge
            if debit > 0:
                out.balance_minor -= debit
                out.debits.append(Debit(-debit, out.balance_minor, f"usage:{usage.event_id}"))
        out.lines.append(MeteredLine(usage, tier, price, inc_in, inc_out, charge, fee))
    return out
