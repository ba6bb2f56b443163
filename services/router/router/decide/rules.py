"""The decision's pure rules: which tiers are allowed, what each is expected to cost, and which one wins.

Over the allowed tiers (the policy's tiers, narrowed to the request's candidates, and each within `max_cost_usd`),
minimise  cost * m + lambda * (1 - p)  where cost = price per 1k tokens * expected tokens / 1000 (the estimate),
m the tier's cost factor (what its metered cost has been relative to the estimate: router/bandit/rules.py
cost_factor; 1 without observations) and p the tier's posterior mean P(success) (the classifier's p moved by the
bandit's observations). Ties go to the cheaper tier. The estimate without m is what `max_cost_usd` is checked
against and what a decision reports as `expected_cost_usd` (the fixed base the cost ratios are measured on).

In order: an exploring decision (`explore`) minimises with Thompson draws instead of means (reason `explore`);
else when the cheapest allowed tier's p clears the early-exit bar it wins at once (`early_exit`; no bar = a novel
request, never); else the minimum wins, reason `classifier` when the classifier's p and the estimates alone (early
exit included) would pick the same tier, `bandit` when the bandit's observations (outcomes or costs) changed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from router.bandit.rules import Posterior

__all__ = ["Reason", "TierOption", "Pick", "expected_tokens", "tier_cost", "affordable", "greedy", "pick"]

Reason = Literal["early_exit", "classifier", "bandit", "explore", "fallback", "pinned"]


@dataclass(frozen=True)
class TierOption:
    name: str
    alias: str
    price_usd_per_1k: float


@dataclass(frozen=True)
class Pick:
    tier: str
    reason: Reason


def expected_tokens(prompt_tokens: int, max_tokens: int | None, expected_output: int) -> int:
    """Prompt tokens plus the output expected: `expected_output`, or less when `max_tokens` caps it."""
    output = expected_output if max_tokens is None else min(max_tokens, expected_output)
    return max(prompt_tokens, 0) + output


def tier_cost(option: TierOption, tokens: int) -> float:
    """Estimated US dollars of `tokens` tokens on the tier."""
    return option.price_usd_per_1k * tokens / 1000.0


def affordable(options: Sequence[TierOption], tokens: int, max_cost_usd: float | None) -> list[TierOption]:
    """The options whose expected cost is within `max_cost_usd` (all of them without a cap), order kept."""
    if max_cost_usd is None:
        return list(options)
    return [option for option in options if tier_cost(option, tokens) <= max_cost_usd]


def greedy(
    options: Sequence[TierOption],
    p: Mapping[str, float],
    lam: float,
    tokens: int,
    cost_factor: Mapping[str, float] | None = None,
) -> TierOption:
    """The option minimising cost * m + lam * (1 - p) (m from `cost_factor`, 1 by default); the first among equals."""

    def score(option: TierOption) -> float:
        m = 1.0 if cost_factor is None else cost_factor.get(option.name, 1.0)
        return tier_cost(option, tokens) * m + lam * (1.0 - p[option.name])

    best = options[0]
    best_score = score(best)
    for option in options[1:]:
        value = score(option)
        if value < best_score:
            best, best_score = option, value
    return best


def pick(
    options: Sequence[TierOption],
    *,
    classifier: Mapping[str, float],
    posteriors: Mapping[str, Posterior],
    lam: float,
    bar: float | None,
    tokens: int,
    draws: Mapping[str, float] | None,
    cost_factor: Mapping[str, float] | None = None,
) -> Pick:
    """The tier for a request among `options` (allowed, cheapest first, at least one); `draws` = exploring;
    `bar` None = no early exit (a novel request); `cost_factor` = the bandit's cost factors per tier."""
    if draws is not None:
        return Pick(greedy(options, draws, lam, tokens, cost_factor).name, "explore")
    means = {option.name: posteriors[option.name].mean for option in options}
    cheapest = options[0]
    if bar is not None and means[cheapest.name] >= bar:
        return Pick(cheapest.name, "early_exit")
    best = greedy(options, means, lam, tokens, cost_factor)
    # What the classifier alone would pick (early exit included): a different tier means the bandit's doing.
    if bar is not None and classifier[cheapest.name] >= bar:
        by_classifier = cheapest
    else:
        by_classifier = greedy(options, classifier, lam, tokens)
    return Pick(best.name, "classifier" if best.name == by_classifier.name else "bandit")
