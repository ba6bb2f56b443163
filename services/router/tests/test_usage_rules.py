"""The pure rules behind cost, latency and novelty signals: cost ratios and factors, the objective with cost
factors, no early exit without a bar (a novel request), and a weaker prior that observations move faster."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.bandit.rules import MAX_COST_RATIO, Arm, TenantArms, cost_factor, cost_ratio, posterior
from router.decide.rules import TierOption, greedy, pick

CHEAP = TierOption("cheap", "gpt-4o-mini", 0.005)
STRONG = TierOption("strong", "gpt-4o", 0.01)
TIERS = [CHEAP, STRONG]
CLASSIFIER = {"cheap": 0.85, "strong": 0.95}

_p = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_ratio = st.floats(min_value=0.0, max_value=MAX_COST_RATIO, allow_nan=False)
_strength = st.floats(min_value=0.1, max_value=100.0)


def test_worked_cost_values() -> None:
    assert cost_ratio(0.004, 0.001) == 4.0
    assert cost_ratio(0.0, 0.001) == 0.0
    assert cost_ratio(0.004, 0.0) is None  # no estimate (a free tier): nothing to learn a ratio from
    assert cost_ratio(1.0, 1e-9) == MAX_COST_RATIO
    assert cost_factor(Arm(), 5.0) == 1.0
    assert cost_factor(Arm(cost_ratio_sum=16.0, cost_observations=4.0), 5.0) == 21.0 / 9.0
    # The objective scales only the estimate: lambda 0.01, 275 tokens (the API test's numbers).
    fresh = {t: posterior(p, Arm(), 10) for t, p in CLASSIFIER.items()}
    common = {"classifier": CLASSIFIER, "posteriors": fresh, "lam": 0.01, "bar": 1.0, "tokens": 275, "draws": None}
    assert pick(TIERS, **common).reason == "classifier"  # type: ignore[arg-type]
    assert pick(TIERS, **common).tier == "cheap"  # type: ignore[arg-type]
    factors = {"cheap": 21.0 / 9.0, "strong": 1.0}
    chosen = pick(TIERS, **common, cost_factor=factors)  # type: ignore[arg-type]
    assert (chosen.tier, chosen.reason) == ("strong", "bandit")


def test_a_context_without_cost_observations_gets_the_tiers_overall_factor() -> None:
    # Cheap always failed on math (errors carry no cost) but cost 10x its estimate on writing; strong cost 10x on math.
    arms = [
        ("math", "cheap", Arm(failures=8)),
        ("writing", "cheap", Arm(successes=3, cost_ratio_sum=200.0, cost_observations=20)),
        ("math", "strong", Arm(cost_ratio_sum=100.0, cost_observations=10)),
    ]
    math = TenantArms.of(arms, "math")
    assert math.arm("cheap") == Arm(failures=8)
    assert math.arm("mid") == Arm()
    overall_cheap = (5 + 200) / (5 + 20)
    assert math.cost_factor("cheap", 5.0) == overall_cheap  # not the bare estimate: cheap is 10x there too
    assert math.cost_factor("strong", 5.0) == (5 * ((5 + 100) / 15) + 100) / 15
    assert math.cost_factor("mid", 5.0) == 1.0
    writing = TenantArms.of(arms, "writing")
    assert writing.cost_factor("cheap", 5.0) == (5 * overall_cheap + 200) / 25
    # A context's own observations pull it away from the tier's overall factor, in their direction.
    arms.append(("code", "cheap", Arm(cost_ratio_sum=4.0, cost_observations=4)))
    code = TenantArms.of(arms, "code")
    overall = (5 + 204) / (5 + 24)
    assert 1.0 < code.cost_factor("cheap", 5.0) < overall


@given(st.lists(_ratio, min_size=1, max_size=50), st.floats(min_value=0.5, max_value=50.0))
def test_the_cost_factor_lies_between_one_and_the_mean_ratio_and_converges(ratios: list[float], k: float) -> None:
    arm = Arm(cost_ratio_sum=sum(ratios), cost_observations=len(ratios))
    mean = sum(ratios) / len(ratios)
    factor = cost_factor(arm, k)
    assert min(1.0, mean) - 1e-9 <= factor <= max(1.0, mean) + 1e-9
    many = Arm(cost_ratio_sum=sum(ratios) * 1000, cost_observations=len(ratios) * 1000)
    assert abs(cost_factor(many, k) - mean) <= abs(factor - mean) + 1e-9


@given(_p, _p, st.floats(min_value=0.0, max_value=10.0), st.floats(min_value=1.0, max_value=20.0), _p)
def test_a_costlier_cheap_tier_is_never_more_likely_picked(
    p_cheap: float, p_strong: float, base: float, more: float, lam: float
) -> None:
    p = {"cheap": p_cheap, "strong": p_strong}
    if greedy(TIERS, p, lam, 300, {"cheap": base, "strong": 1.0}).name == "strong":
        assert greedy(TIERS, p, lam, 300, {"cheap": base * more, "strong": 1.0}).name == "strong"


@given(_p, _p, _p, st.integers(min_value=1, max_value=5000))
def test_without_a_bar_there_is_no_early_exit(p_cheap: float, p_strong: float, bar: float, tokens: int) -> None:
    classifier = {"cheap": p_cheap, "strong": p_strong}
    posts = {t: posterior(v, Arm(), 10) for t, v in classifier.items()}
    common = {"classifier": classifier, "posteriors": posts, "lam": 0.05, "tokens": tokens, "draws": None}
    novel = pick(TIERS, bar=None, **common)  # type: ignore[arg-type]
    assert novel.reason != "early_exit"
    # What a novel request gets is what the minimum of the objective picks, bar or no bar.
    assert novel.tier == greedy(TIERS, {t: posts[t].mean for t in classifier}, 0.05, tokens).name


def test_a_novel_request_with_the_early_exit_p_does_not_exit() -> None:
    fresh = {t: posterior(p, Arm(), 10) for t, p in CLASSIFIER.items()}
    common = {"classifier": CLASSIFIER, "posteriors": fresh, "lam": 0.05, "tokens": 300, "draws": None}
    assert pick(TIERS, bar=0.8, **common).reason == "early_exit"  # type: ignore[arg-type]
    novel = pick(TIERS, bar=None, **common)  # type: ignore[arg-type]
    assert (novel.tier, novel.reason) == ("strong", "classifier")


@given(st.floats(min_value=0.02, max_value=0.98), st.integers(min_value=1, max_value=50), _strength)
def test_a_weaker_prior_moves_further_with_the_same_failures(p: float, failures: int, strength: float) -> None:
    strong_prior = posterior(p, Arm(failures=failures), strength).mean
    weak_prior = posterior(p, Arm(failures=failures), strength / 2).mean
    assert weak_prior < strong_prior < p
    # No observations: the mean is the classifier's p whatever the prior's weight.
    assert abs(posterior(p, Arm(), strength / 2).mean - posterior(p, Arm(), strength).mean) < 1e-12
