"""The fallback rule table: deterministic, always one of the allowed tiers, stronger for harder requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas.routing.fallback import HARD_DOMAINS, LONG_PROMPT_TOKENS, demand, fallback_tier
from aiaas.routing.features import DOMAINS, RequestFeatures, extract_features

TWO = ("cheap", "strong")
THREE = ("cheap", "mid", "strong")


def _features(tokens: int = 10, strictness: int = 0, domains: frozenset[str] = frozenset()) -> RequestFeatures:
    return RequestFeatures(token_count=tokens, json_schema_strictness=strictness, domain_flags=domains)


def test_the_table_on_two_tiers() -> None:
    assert fallback_tier(_features(), TWO) == "cheap"
    assert fallback_tier(_features(domains=frozenset({"writing"})), TWO) == "cheap"
    assert fallback_tier(_features(strictness=1), TWO) == "cheap"
    assert fallback_tier(_features(domains=frozenset({"math"})), TWO) == "strong"
    assert fallback_tier(_features(strictness=2), TWO) == "strong"
    assert fallback_tier(_features(tokens=LONG_PROMPT_TOKENS + 1), TWO) == "strong"
    assert fallback_tier(_features(tokens=LONG_PROMPT_TOKENS), TWO) == "cheap"


def test_the_table_on_three_tiers() -> None:
    assert fallback_tier(_features(), THREE) == "cheap"
    assert fallback_tier(_features(domains=frozenset({"code"})), THREE) == "mid"
    assert fallback_tier(_features(strictness=2), THREE) == "mid"
    assert fallback_tier(_features(strictness=2, domains=frozenset({"law"})), THREE) == "strong"


def test_one_tier_is_always_that_tier_and_none_is_an_error() -> None:
    assert fallback_tier(_features(strictness=2, domains=frozenset({"math"})), ("only",)) == "only"
    with pytest.raises(ValueError):
        fallback_tier(_features(), ())


def test_from_a_real_request() -> None:
    math_request = extract_features([{"role": "user", "content": "Solve the equation 3x + 4 = 19 for x."}])
    chat_request = extract_features([{"role": "user", "content": "Say hello to my friend Anna."}])
    assert fallback_tier(math_request, TWO) == "strong"
    assert fallback_tier(chat_request, TWO) == "cheap"


_tiers = st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=6, unique=True)
_feature_values = st.builds(
    RequestFeatures,
    token_count=st.integers(min_value=0, max_value=100_000),
    json_schema_strictness=st.integers(min_value=0, max_value=2),
    domain_flags=st.frozensets(st.sampled_from(DOMAINS)),
)


@given(_feature_values, _tiers)
def test_always_an_allowed_tier_and_deterministic(features: RequestFeatures, tiers: list[str]) -> None:
    tier = fallback_tier(features, tiers)
    assert tier in tiers
    assert fallback_tier(features, list(tiers)) == tier


@given(_feature_values, _tiers)
def test_more_demand_never_picks_a_cheaper_tier(features: RequestFeatures, tiers: list[str]) -> None:
    harder = RequestFeatures(
        token_count=features.token_count,
        json_schema_strictness=2,
        domain_flags=features.domain_flags | {sorted(HARD_DOMAINS)[0]},
    )
    assert demand(harder) == 2
    assert tiers.index(fallback_tier(harder, tiers)) >= tiers.index(fallback_tier(features, tiers))
    assert fallback_tier(harder, tiers) == tiers[-1]
