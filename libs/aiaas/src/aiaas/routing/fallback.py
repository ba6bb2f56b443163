"""The deterministic fallback: a fixed rule table from a request's rule features to a tier.

The router answers with it when its model artifact is missing or unloadable, a feature step fails or its deadline
passes; the gateway applies the same function when the router cannot be reached. Nothing here reads a clock, a
model or the network, so the same features and tiers always give the same tier.

The table counts how demanding a request looks (`demand`, 0 to 2):

- +1 for a hard domain (`HARD_DOMAINS`: code, math, law, medicine, science) among the rule domain flags;
- +1 for a schema to obey (`json_schema_strictness` 2) or a long prompt (`token_count` > `LONG_PROMPT_TOKENS`).

The tier is the allowed tier at position ceil(demand * (n - 1) / 2) of the n allowed tiers (cheapest first): with
the platform's two tiers any demand picks the strong one; with three, one sign of demand picks the middle tier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from aiaas.routing.features import RequestFeatures

__all__ = ["HARD_DOMAINS", "LONG_PROMPT_TOKENS", "demand", "fallback_tier"]

HARD_DOMAINS: frozenset[str] = frozenset({"code", "math", "law", "medicine", "science"})
LONG_PROMPT_TOKENS = 2000
_MAX_DEMAND = 2


def demand(features: RequestFeatures) -> int:
    """How demanding the request looks, 0 (plain) to 2 (hard domain and a strict schema or a long prompt)."""
    level = 0
    if features.domain_flags & HARD_DOMAINS:
        level += 1
    if features.json_schema_strictness >= 2 or features.token_count > LONG_PROMPT_TOKENS:
        level += 1
    return level


def fallback_tier(features: RequestFeatures, allowed: Sequence[str]) -> str:
    """The tier of `allowed` (ordered cheapest first, at least one) the rule table picks for `features`."""
    if not allowed:
        raise ValueError("fallback_tier needs at least one allowed tier")
    index = math.ceil(demand(features) * (len(allowed) - 1) / _MAX_DEMAND)
    return allowed[index]
