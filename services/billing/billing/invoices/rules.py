"""The invoice rule, as pure functions: base fee lines, usage lines rounded per line, tax, credits applied.

Lines: the base fee (prorated by days per plan, see subscriptions/rules.py), then per tier and direction
(input/output) and price: tokens, included tokens applied, overage tokens, price per 1k, amount =
overage x price / 1000 rounded half-up at line level; then per kind of cache hit (exact, semantic) and
fee: hits x the plan's fee per hit, rounded half-up (a hit has no provider tokens, so no token line counts
it). subtotal = sum of lines; tax = subtotal x BILLING_TAX_RATE rounded half-up; the prepaid balance pays
first: credits applied = what usage already debited this period, topped up (or refunded) at close to
min(subtotal + tax, debits + balance); total = subtotal + tax - credits applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing.invoices.schemas import DraftLine
from billing.plans.catalogue import Plan
from billing.plans.pricing import round_minor, token_charge
from billing.subscriptions.rules import base_fee_parts, period_days
from billing.subscriptions.schemas import Subscription

__all__ = ["UsageGroup", "CacheHitGroup", "base_fee_lines", "usage_lines", "cache_hit_lines", "Totals", "totals"]


@dataclass(frozen=True)
class UsageGroup:
    """Ledger sums of one tier and price pair: tokens and the part the allowance covered, per direction."""

    tier: str
    input_minor_per_1k: Decimal
    output_minor_per_1k: Decimal
    tokens_in: int
    included_in: int
    tokens_out: int
    included_out: int


def base_fee_lines(sub: Subscription, plan: Plan) -> list[DraftLine]:
    """The earlier plans' accrued fee (if any) and the current plan's prorated fee."""
    prior, current, days = base_fee_parts(sub, plan)
    total_days = period_days(sub.current_period_start, sub.current_period_end)
    lines: list[DraftLine] = []
    if prior:
        lines.append(
            DraftLine("base_fee", "Base fee of earlier plans this period", None, None, 1, 0, 0, Decimal(prior), prior)
        )
    description = f"Plan '{plan.name}' base fee ({days}/{total_days} days)"
    lines.append(DraftLine("base_fee", description, None, None, 1, 0, 0, Decimal(current), current))
    return lines


def usage_lines(groups: Iterable[UsageGroup]) -> list[DraftLine]:
    """One line per tier, direction and price (prices that differ only in trailing zeros are one)."""
    # (tier, meter, price) -> [tokens, included]
    acc: dict[tuple[str, str, Decimal], list[int]] = {}
    for group in groups:
        for meter, price, tokens, included in (
            ("tokens_in", group.input_minor_per_1k, group.tokens_in, group.included_in),
            ("tokens_out", group.output_minor_per_1k, group.tokens_out, group.included_out),
        ):
            if tokens:
                sums = acc.setdefault((group.tier, meter, price.normalize()), [0, 0])
                sums[0] += tokens
                sums[1] += included
    lines = []
    for (tier, meter, price), (tokens, included) in sorted(acc.items()):
        overage = tokens - included
        direction = "input" if meter == "tokens_in" else "output"
        lines.append(
            DraftLine(
                kind="usage",
                description=f"{tier} tier {direction} tokens: {overage} beyond the included allowance, per 1k",
                tier=tier,
                meter=meter,
                quantity=tokens,
                included_units=included,
                overage_units=overage,
                unit_amount_minor=price,
                amount_minor=round_minor(token_charge(overage, price)),
            )
        )
    return lines


@dataclass(frozen=True)
class CacheHitGroup:
    """Ledger count of one kind of cache hit (`exact` or `semantic`) metered at one fee per hit."""

    cache_status: str
    fee_minor: Decimal
    hits: int


def cache_hit_lines(groups: Iterable[CacheHitGroup]) -> list[DraftLine]:
    """One line per kind of hit and fee (fees that differ only in trailing zeros are one): hits x fee."""
    acc: dict[tuple[str, Decimal], int] = {}
    for group in groups:
        if group.hits:
            key = (group.cache_status, group.fee_minor.normalize())
            acc[key] = acc.get(key, 0) + group.hits
    lines = []
    for (status, fee), hits in sorted(acc.items()):
        lines.append(
            DraftLine(
                kind="cache_hits",
                description=f"{status} cache hits: {hits} answered from the cache, per hit",
                tier=None,
                meter=f"cache_hits_{status}",
                quantity=hits,
                included_units=0,
                overage_units=hits,
                unit_amount_minor=fee,
                amount_minor=round_minor(Decimal(hits) * fee),
            )
        )
    return lines


@dataclass(frozen=True)
class Totals:
    subtotal_minor: int
    tax_minor: int
    credits_applied_minor: int

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.tax_minor - self.credits_applied_minor


def totals(lines: Iterable[DraftLine], tax_rate: Decimal, usage_debits_minor: int, balance_minor: int) -> Totals:
    """Subtotal, tax (half-up) and the prepaid credit applied (what usage debited plus what the balance covers)."""
    subtotal = sum(line.amount_minor for line in lines)
    tax = round_minor(Decimal(subtotal) * tax_rate)
    applied = min(subtotal + tax, usage_debits_minor + balance_minor)
    return Totals(subtotal, tax, applied)
