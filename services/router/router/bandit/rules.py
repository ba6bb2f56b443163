"""The bandit's pure rules: Beta posteriors with the classifier as prior, Thompson draws, the exploration roll.

A tier's success probability in a context has the posterior Beta(a, b) with

    a = p * strength + successes,   b = (1 - p) * strength + failures

where `p` is the classifier's calibrated P(success) for this request (clamped to [P_FLOOR, 1 - P_FLOOR]) and
`strength` the number of pseudo-observations the classifier is worth (less for a novel request: the decision
scales it down). Observations come from rewards (feedback, usage errors, requests over the tenant's latency
objective, retries) and live in `router_bandit_arms`. With no observations the posterior mean is the classifier's
p; every failure lowers it, every success raises it.

An arm also learns what its tier really costs: each routed request's metered cost over the decision's estimate is
one ratio (capped at MAX_COST_RATIO, a guard against a near-zero estimate). The decision scales the tier's estimate
by a factor shrunk in two levels (K = `ROUTER_COST_PRIOR_STRENGTH`):

    tier factor    = (K * 1           + the tier's ratios in every context) / (K + their number)
    context factor = (K * tier factor + the tier's ratios in this context)  / (K + their number)

The estimate counts as K observations at ratio 1, and a context's own observations move it away from the tier's
overall factor. The middle level matters: a tier that fails in a context (errors are no cost observations) would
otherwise keep its bare estimate there while the tier that answers has its real price learned, and a mispriced
policy would send requests back to the failing tier. The estimate the ratio divides by is always the unadjusted one
(price x expected tokens), so every ratio is relative to one fixed base and the factor converges to the mean ratio.

Randomness is seeded from the decision's inputs (`seed_of`), so one input with one state gives one decision.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiaas.routing.features import DOMAINS

__all__ = [
    "P_FLOOR",
    "GENERAL",
    "MAX_COST_RATIO",
    "Arm",
    "Posterior",
    "TenantArms",
    "context_key",
    "posterior",
    "cost_ratio",
    "cost_factor",
    "seed_of",
    "explore_roll",
    "thompson_draws",
]

P_FLOOR = 0.01
GENERAL = "general"
# One request's observed/expected cost ratio counts at most this much: a guard against a near-zero estimate, far
# above real mispricing (a policy price 1000x below the gateway's is a ratio of 1000, and must be learned).
MAX_COST_RATIO = 10_000.0


@dataclass(frozen=True)
class Arm:
    """What a (tenant, context, tier) has observed."""

    successes: float = 0.0
    failures: float = 0.0
    cost_ratio_sum: float = 0.0
    cost_observations: float = 0.0


@dataclass(frozen=True)
class Posterior:
    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


def context_key(domain_flags: Iterable[str]) -> str:
    """The bandit context of a request: its first domain in `DOMAINS` order, or `general`."""
    flags = set(domain_flags)
    for domain in DOMAINS:
        if domain in flags:
            return domain
    return GENERAL


def posterior(p: float, arm: Arm, strength: float) -> Posterior:
    """The Beta posterior of a tier: the classifier's `p` as `strength` pseudo-counts plus the arm's counts."""
    prior = min(max(p, P_FLOOR), 1.0 - P_FLOOR)
    return Posterior(alpha=prior * strength + arm.successes, beta=(1.0 - prior) * strength + arm.failures)


def cost_ratio(observed_usd: float, expected_usd: float) -> float | None:
    """One observation of a tier's cost: metered / estimated, capped; None when there is no estimate to divide."""
    if not expected_usd > 0.0 or not observed_usd >= 0.0:
        return None
    return min(observed_usd / expected_usd, MAX_COST_RATIO)


def cost_factor(arm: Arm, strength: float, prior: float = 1.0) -> float:
    """The arm's mean cost ratio with `prior` worth `strength` observations."""
    return (strength * prior + arm.cost_ratio_sum) / (strength + arm.cost_observations)


@dataclass(frozen=True)
class TenantArms:
    """What a decision reads of a tenant's bandit: the arms of its context, and each tier's cost observations summed
    over every context (the tier's overall cost factor)."""

    context: Mapping[str, Arm]
    tiers: Mapping[str, Arm]

    def arm(self, tier: str) -> Arm:
        return self.context.get(tier, Arm())

    def cost_factor(self, tier: str, strength: float) -> float:
        """The context's cost factor of `tier`, shrunk towards the tier's overall factor (module docstring)."""
        overall = cost_factor(self.tiers.get(tier, Arm()), strength)
        return cost_factor(self.arm(tier), strength, prior=overall)

    @classmethod
    def of(cls, arms: Iterable[tuple[str, str, Arm]], context: str) -> TenantArms:
        """From (context, tier, arm) of every arm of the tenant."""
        mine: dict[str, Arm] = {}
        sums: dict[str, tuple[float, float]] = {}
        for ctx, tier, arm in arms:
            if ctx == context:
                mine[tier] = arm
            total, n = sums.get(tier, (0.0, 0.0))
            sums[tier] = (total + arm.cost_ratio_sum, n + arm.cost_observations)
        tiers = {tier: Arm(cost_ratio_sum=total, cost_observations=n) for tier, (total, n) in sums.items()}
        return cls(context=mine, tiers=tiers)


def seed_of(*parts: object) -> int:
    """A 64-bit seed from the decision's inputs (their repr, in order)."""
    digest = hashlib.sha256("\x1f".join(repr(part) for part in parts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def explore_roll(seed: int, cap: float) -> bool:
    """Whether this decision explores: true with probability `cap` over seeds (never when cap is 0)."""
    if cap <= 0.0:
        return False
    return random.Random(seed).random() < cap  # noqa: S311  # nosec B311 - exploration, not security


def thompson_draws(seed: int, posteriors: Mapping[str, Posterior], tiers: Sequence[str]) -> dict[str, float]:
    """One draw from each tier's posterior (in `tiers` order), from a generator seeded with `seed`."""
    rng = random.Random(seed ^ 0x5EED)  # noqa: S311  # nosec B311 - exploration, not security
    return {tier: rng.betavariate(posteriors[tier].alpha, posteriors[tier].beta) for tier in tiers}
