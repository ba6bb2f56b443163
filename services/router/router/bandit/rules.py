"""The bandit's pure rules: Beta posteriors with the classifier as prior, Thompson draws, the exploration roll.

A tier's success probability in a context has the posterior Beta(a, b) with

    a = p * strength + successes,   b = (1 - p) * strength + failures

where `p` is the classifier's calibrated P(success) for this request (clamped to [P_FLOOR, 1 - P_FLOOR]) and
`strength` the number of pseudo-observations the classifier is worth. Observations come from rewards (feedback,
usage errors, retries) and live in `router_bandit_arms`. With no observations the posterior mean is the
classifier's p; every failure lowers it, every success raises it.

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
    "Arm",
    "Posterior",
    "context_key",
    "posterior",
    "seed_of",
    "explore_roll",
    "thompson_draws",
]

P_FLOOR = 0.01
GENERAL = "general"


@dataclass(frozen=True)
class Arm:
    """What a (tenant, context, tier) has observed."""

    successes: float = 0.0
    failures: float = 0.0


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
