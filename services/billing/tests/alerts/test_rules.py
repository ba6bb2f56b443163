"""Quota alert rules: where soft limits lie, that each fires once, and the webhook signature."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.alerts.rules import crossed_thresholds, sign, threshold_tokens, verify_signature
from billing.plans.catalogue import Plan


def _plan(included: int, pcts: tuple[int, ...]) -> Plan:
    return Plan("pro", "Pro", "usd", 0, included, None, "bill", None, pcts, True, {})


def test_soft_limits_round_up_to_whole_tokens():
    assert threshold_tokens(_plan(5, (80, 100))) == [(4, 80), (5, 100)]
    assert threshold_tokens(_plan(1000, (100, 50))) == [(500, 50), (1000, 100)]
    assert threshold_tokens(_plan(0, (80,))) == []


def test_a_step_crosses_the_limits_between_its_ends():
    limits = threshold_tokens(_plan(1000, (50, 80, 100)))
    assert crossed_thresholds(limits, 0, 799) == [(50, 799)]
    assert crossed_thresholds(limits, 799, 800) == [(80, 800)]
    assert crossed_thresholds(limits, 800, 5000) == [(100, 5000)]
    assert crossed_thresholds(limits, 5000, 9000) == []


@given(
    st.integers(min_value=0, max_value=10**6),
    st.lists(st.integers(min_value=1, max_value=1000), max_size=10, unique=True),
    st.lists(st.integers(min_value=0, max_value=10**5), max_size=30),
)
def test_thresholds_fire_once_whatever_the_steps(included, pcts, steps):
    limits = threshold_tokens(_plan(included, tuple(pcts)))
    used, fired = 0, []
    for step in steps:
        crossings = crossed_thresholds(limits, used, used + step)
        assert all(tokens == used + step for _, tokens in crossings)
        fired += [pct for pct, _ in crossings]
        used += step
    assert sorted(fired) == sorted(pct for tokens, pct in limits if tokens <= used)


@given(st.text(min_size=1), st.integers(min_value=0, max_value=2**40), st.binary())
def test_a_signature_verifies_only_with_its_secret_and_body(secret, timestamp, body):
    header = sign(secret, timestamp, body)
    assert verify_signature(secret, header, body, now=timestamp)
    assert not verify_signature(secret + "x", header, body, now=timestamp)
    assert not verify_signature(secret, header, body + b"x", now=timestamp)
    assert not verify_signature(secret, header, body, now=timestamp + 301)
