"""Money arithmetic: Decimal only, rounded half-up to whole minor units where an amount is billed.

Prices are minor units (cents) per 1,000 tokens; a charge stays an unrounded Decimal until it
becomes an invoice line, which is rounded half-up once, at line level.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

__all__ = ["PER_UNITS", "round_minor", "floor_minor", "token_charge", "prorate"]

# Prices are quoted per this many tokens.
PER_UNITS = Decimal(1000)


def round_minor(amount: Decimal) -> int:
    """Half-up to a whole minor unit (0.5 cent -> 1 cent)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def floor_minor(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def token_charge(tokens: int, minor_per_1k: Decimal) -> Decimal:
    """Unrounded charge in minor units for `tokens` at `minor_per_1k` minor units per 1,000 tokens."""
    return Decimal(tokens) * minor_per_1k / PER_UNITS


def prorate(amount_minor: int, days: int, total_days: int) -> int:
    """`amount_minor` for `days` of a `total_days` period, rounded half-up."""
    if total_days <= 0:
        return 0
    return round_minor(Decimal(amount_minor) * Decimal(days) / Decimal(total_days))
