"""The bandit's and the decision's pure rules, as properties (hypothesis) and a few worked values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.bandit.rules import Arm, context_key, explore_roll, posterior, seed_of, thompson_draws
from router.decide.rules import TierOption, affordable, expected_tokens, greedy, pick, tier_cost

CHEAP = TierOption("cheap", "gpt-4o-mini", 0.0006)
MID = TierOption("mid", "mid-model", 0.003)
STRONG = TierOption("strong", "gpt-4o", 0.01)
OPTIONS = [CHEAP, MID, STRONG]

_p = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_count = st.integers(min_value=0, max_value=500)
_strength = st.floats(min_value=0.5, max_value=100.0)
_tiers = st.lists(st.sampled_from(OPTIONS), min_size=1, max_size=3, unique=True).map(
    lambda xs: sorted(xs, key=OPTIONS.index)
)


def test_worked_values() -> None:
    assert context_key({"math", "code"}) == "code"
    assert context_key(set()) == "general"
    assert posterior(0.85, Arm(), 10).mean == 0.85
    assert round(posterior(0.85, Arm(failures=5), 10).mean, 4) == round(8.5 / 15, 4)
    assert expected_tokens(100, None, 256) == 356
    assert expected_tokens(100, 50, 256) == 150
    assert tier_cost(STRONG, 1000) == 0.01
    assert affordable(OPTIONS, 1000, 0.005) == [CHEAP, MID]
    assert affordable(OPTIONS, 1000, None) == OPTIONS


@given(_p, _count, _count, _strength)
def test_posterior_mean_moves_with_observations(p: float, s: int, f: int, strength: float) -> None:
    base = posterior(p, Arm(s, f), strength).mean
    assert 0.0 < base < 1.0
    assert posterior(p, Arm(s, f + 1), strength).mean < base
    assert posterior(p, Arm(s + 1, f), strength).mean > base


@given(st.integers(min_value=0, max_value=2**64 - 1), st.floats(min_value=0.0, max_value=1.0))
def test_the_exploration_roll_is_deterministic_and_never_without_a_cap(seed: int, cap: float) -> None:
    assert explore_roll(seed, cap) == explore_roll(seed, cap)
    assert explore_roll(seed, 0.0) is False
    assert explore_roll(seed, 1.0) is True


def test_the_exploration_rate_stays_under_its_cap() -> None:
    rolls = [explore_roll(seed_of("request", n), 0.05) for n in range(4000)]
    assert sum(rolls) / len(rolls) <= 0.06


@given(_tiers, st.dictionaries(st.sampled_from(["cheap", "mid", "strong"]), _p, min_size=3, max_size=3), _p, _p)
def test_a_pick_is_always_an_allowed_tier_and_the_same_twice(
    tiers: list[TierOption], p: dict[str, float], lam: float, bar: float
) -> None:
    posts = {name: posterior(value, Arm(), 10) for name, value in p.items()}
    names = [t.name for t in tiers]
    for draws in (None, thompson_draws(7, posts, names)):
        first = pick(tiers, classifier=p, posteriors=posts, lam=lam, bar=bar, tokens=500, draws=draws)
        again = pick(tiers, classifier=p, posteriors=posts, lam=lam, bar=bar, tokens=500, draws=draws)
        assert first == again
        assert first.tier in names
        assert first.reason == ("explore" if draws is not None else first.reason)


@given(_p, _p, st.integers(min_value=1, max_value=50))
def test_failures_on_the_cheap_tier_never_make_it_more_likely(p_cheap: float, p_strong: float, failures: int) -> None:
    classifier = {"cheap": p_cheap, "strong": p_strong}
    tiers = [CHEAP, STRONG]
    before = {t: posterior(v, Arm(), 10) for t, v in classifier.items()}
    after = {"cheap": posterior(p_cheap, Arm(failures=failures), 10), "strong": before["strong"]}
    kwargs = {"classifier": classifier, "lam": 0.05, "bar": 0.9, "tokens": 300, "draws": None}
    if pick(tiers, posteriors=before, **kwargs).tier == "strong":  # type: ignore[arg-type]
        assert pick(tiers, posteriors=after, **kwargs).tier == "strong"  # type: ignore[arg-type]


def test_early_exit_bandit_and_classifier_reasons() -> None:
    classifier = {"cheap": 0.85, "strong": 0.95}
    fresh = {t: posterior(v, Arm(), 10) for t, v in classifier.items()}
    tiers = [CHEAP, STRONG]
    common = {"classifier": classifier, "lam": 0.05, "tokens": 300, "draws": None}
    assert pick(tiers, posteriors=fresh, bar=0.8, **common).reason == "early_exit"  # type: ignore[arg-type]
    assert pick(tiers, posteriors=fresh, bar=0.99, **common).tier == "strong"  # type: ignore[arg-type]
    assert pick(tiers, posteriors=fresh, bar=0.99, **common).reason == "classifier"  # type: ignore[arg-type]
    # Cheap is the classifier's pick at a small lambda; failures observed on it move the pick: the bandit's.
    small = {**common, "lam": 0.01}
    assert pick(tiers, posteriors=fresh, bar=0.99, **small).tier == "cheap"  # type: ignore[arg-type]
    failed = {**fresh, "cheap": posterior(0.85, Arm(failures=20), 10)}
    chosen = pick(tiers, posteriors=failed, bar=0.99, **small)  # type: ignore[arg-type]
    assert (chosen.tier, chosen.reason) == ("strong", "bandit")


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=3, max_size=3))
def test_greedy_prefers_the_cheaper_tier_on_a_tie(values: list[float]) -> None:
    same = dict.fromkeys(["cheap", "mid", "strong"], values[0])
    assert greedy(OPTIONS, same, 0.0, 100).name == "cheap"
