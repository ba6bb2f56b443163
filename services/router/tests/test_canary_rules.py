"""The canary's pure statistics: the one-sided two-proportion z-test and the verdict."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.canary.rules import ArmCounts, Thresholds, compare, slow_threshold, verdict, z_test

counts = st.integers(min_value=1, max_value=2000)
margins = st.sampled_from([0.0, 0.005, 0.02, 0.1, 0.3])


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_z_test_known_value() -> None:
    # Canary 30/100 against stable 10/100, no margin: Agresti-Caffo q = 31/102 and 11/102.
    q_c, q_s = 31 / 102, 11 / 102
    se = math.sqrt(q_c * (1 - q_c) / 102 + q_s * (1 - q_s) / 102)
    test = z_test(30, 100, 10, 100)
    assert test.z == pytest.approx((q_c - q_s) / se)
    assert test.z == pytest.approx(3.5696, abs=1e-3)
    assert test.p_value == pytest.approx(_normal_sf(test.z))
    assert test.p_value < 0.001


def test_equal_rates_give_no_evidence() -> None:
    test = z_test(10, 100, 10, 100)
    assert test.z == 0.0
    assert test.p_value == 0.5


def test_margin_moves_the_bar() -> None:
    no_margin = z_test(15, 200, 10, 200, 0.0)
    margin = z_test(15, 200, 10, 200, 0.05)
    assert margin.z < no_margin.z
    assert margin.p_value > no_margin.p_value


def test_empty_arm_is_no_evidence() -> None:
    assert z_test(5, 0, 1, 10).p_value == 1.0
    assert z_test(5, 10, 1, 0).p_value == 1.0


def test_all_failures_against_none_is_decisive() -> None:
    # 0 or n events: the adjusted rates keep the standard error positive.
    test = z_test(60, 60, 0, 240)
    assert test.z > 10
    assert test.p_value < 1e-20


@settings(max_examples=300, deadline=None)
@given(n_c=counts, n_s=counts, margin=margins, data=st.data())
def test_z_never_decreases_as_the_canary_gets_worse(n_c: int, n_s: int, margin: float, data: st.DataObject) -> None:
    x_s = data.draw(st.integers(min_value=0, max_value=n_s))
    x_c = data.draw(st.integers(min_value=0, max_value=n_c - 1))
    step = data.draw(st.integers(min_value=1, max_value=n_c - x_c))
    before = z_test(x_c, n_c, x_s, n_s, margin)
    after = z_test(x_c + step, n_c, x_s, n_s, margin)
    assert after.z >= before.z - 1e-12
    assert after.p_value <= before.p_value + 1e-12


@settings(max_examples=300, deadline=None)
@given(n_c=counts, n_s=counts, margin=margins, alpha=st.floats(0.0001, 0.49), data=st.data())
def test_never_worse_when_the_canary_is_no_worse(
    n_c: int, n_s: int, margin: float, alpha: float, data: st.DataObject
) -> None:
    x_s = data.draw(st.integers(min_value=0, max_value=n_s))
    # Any canary count whose rate is at most the stable's (plus the margin).
    limit = math.floor((x_s / n_s + margin) * n_c + 1e-9)
    x_c = data.draw(st.integers(min_value=0, max_value=min(n_c, limit)))
    thresholds = Thresholds(alpha=alpha, misroute_margin=margin, min_decisions=1)
    assert not compare("misroute_rate", x_c, n_c, x_s, n_s, thresholds).worse


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0.0, 1.0), n=counts)
def test_p_value_is_a_probability(p: float, n: int) -> None:
    x = round(p * n)
    test = z_test(x, n, n - x, n, 0.01)
    assert 0.0 <= test.p_value <= 1.0
    assert -99 <= test.z <= 99


def test_minimum_sample_holds_back_a_verdict() -> None:
    thresholds = Thresholds(min_decisions=50)
    assert not compare("error_rate", 40, 40, 0, 400, thresholds).worse
    assert compare("error_rate", 50, 50, 0, 400, thresholds).worse


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        Thresholds(alpha=0.5)
    with pytest.raises(ValueError):
        Thresholds(misroute_margin=-0.1)
    with pytest.raises(ValueError):
        Thresholds(min_decisions=0)
    with pytest.raises(ValueError):
        ArmCounts(n=5, misroutes=6, errors=0)
    with pytest.raises(ValueError):
        ArmCounts(n=5, misroutes=0, errors=0, timed=3, slow=4)


def _arm(n: int, misroutes: int = 0, errors: int = 0, slow: int = 0) -> ArmCounts:
    return ArmCounts(n=n, misroutes=misroutes, errors=errors, timed=n, slow=slow, p50_ms=1.0, p95_ms=2.0)


def test_verdict_rolls_back_a_canary_that_misroutes() -> None:
    thresholds = Thresholds(alpha=0.01, misroute_margin=0.02, min_decisions=50)
    result = verdict(
        _arm(60, misroutes=20), _arm(240, misroutes=3), threshold_ms=4.0, full_window=False, thresholds=thresholds
    )
    assert result.action == "rollback"
    misroute = next(c for c in result.comparisons if c.metric == "misroute_rate")
    assert misroute.worse and misroute.canary_rate == pytest.approx(20 / 60) and misroute.stable_rate == 3 / 240
    assert misroute.canary_n == 60 and misroute.stable_n == 240
    assert "misroute_rate" in result.reason and "error_rate" not in result.reason
    assert result.latency.threshold_ms == 4.0 and result.latency.canary_p95_ms == 2.0


def test_verdict_rolls_back_on_errors_and_slowness_too() -> None:
    thresholds = Thresholds(min_decisions=50)
    errors = verdict(
        _arm(100, errors=30), _arm(400, errors=2), threshold_ms=None, full_window=True, thresholds=thresholds
    )
    assert errors.action == "rollback" and "error_rate" in errors.reason
    slow = verdict(_arm(100, slow=40), _arm(400, slow=20), threshold_ms=5.0, full_window=True, thresholds=thresholds)
    assert slow.action == "rollback" and "slow_rate" in slow.reason


def test_verdict_promotes_after_a_full_passing_window_only() -> None:
    thresholds = Thresholds(min_decisions=50)
    canary, stable = _arm(80, misroutes=2), _arm(320, misroutes=8)
    assert verdict(canary, stable, threshold_ms=4.0, full_window=False, thresholds=thresholds).action == "wait"
    promoted = verdict(canary, stable, threshold_ms=4.0, full_window=True, thresholds=thresholds)
    assert promoted.action == "promote"
    assert not any(c.worse for c in promoted.comparisons)


def test_verdict_waits_for_enough_decisions() -> None:
    thresholds = Thresholds(min_decisions=50)
    result = verdict(_arm(10, misroutes=10), _arm(40), threshold_ms=None, full_window=True, thresholds=thresholds)
    assert result.action == "wait"
    assert "50 decisions per arm" in result.reason


def test_slow_threshold() -> None:
    thresholds = Thresholds(latency_margin=0.5, latency_floor_ms=1.0)
    assert slow_threshold(None, thresholds) is None
    assert slow_threshold(2.0, thresholds) == pytest.approx(4.0)
