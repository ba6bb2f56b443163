"""The cache evaluation's splits and metrics on small synthetic inputs (no shared data needed)."""

from __future__ import annotations

import hashlib
import random

import pytest

from aiaas.semcache.metrics import precision_at_hit_rate, precision_at_recall, safe_threshold
from aiaas.semcache.splits import component_halves, is_test_key, sample_half, zipf_weights


def test_is_test_key_is_the_rcb_v1_hash_parity() -> None:
    for key in ("a", "b", "c", "How?", "What is x?"):
        expected = int(hashlib.sha256(("rcb-v1" + key).encode()).hexdigest(), 16) % 2 == 1
        assert is_test_key(key) is expected
    assert [is_test_key(k) for k in ("a", "b", "c")] == [True, False, True]


def test_component_halves_keep_a_connected_component_on_one_side() -> None:
    # Component 1: a-x-y (via shared questions, whatever the labels); component 2: b-z; component 3: c-w.
    pairs = [("x", "y"), ("b", "z"), ("y", "a"), ("c", "w"), ("a ", "x")]
    flags = component_halves(pairs)
    # smallest question of each component decides: "a" -> test, "b" -> train, "c" -> test
    assert flags == [True, False, True, True, True]


def test_component_halves_merge_chains_regardless_of_order() -> None:
    pairs = [("q5", "q6"), ("q3", "q4"), ("q4", "q5"), ("q1", "q2"), ("q2", "q3")]
    flags = component_halves(pairs)
    assert len(set(flags)) == 1
    assert flags[0] is is_test_key("q1")


def test_sample_half_is_random_0_sample_in_file_order() -> None:
    flags = [i % 3 == 0 for i in range(30)]
    test = sample_half(flags, True, 4)
    assert test == random.Random(0).sample([i for i in range(30) if i % 3 == 0], 4)
    assert test == sample_half(flags, True, 4)
    assert all(flags[i] for i in test)
    train = sample_half(flags, False, 5)
    assert not any(flags[i] for i in train)
    with pytest.raises(ValueError):
        sample_half(flags, True, 11)


def test_zipf_weights() -> None:
    assert zipf_weights(3, 1.0) == [1.0, 0.5, 1.0 / 3.0]
    assert zipf_weights(2, 1.1)[1] == pytest.approx(2**-1.1)


def test_precision_at_hit_rate() -> None:
    scores = [0.99, 0.95, 0.90, 0.80, 0.70]
    correct = [True, False, True, True, False]
    assert precision_at_hit_rate(scores, correct, 0.2) == 1.0
    assert precision_at_hit_rate(scores, correct, 0.4) == 0.5
    assert precision_at_hit_rate(scores, correct, 0.8) == 0.75
    assert precision_at_hit_rate(scores, correct, 1.0) == 0.6
    with pytest.raises(ValueError):
        precision_at_hit_rate(scores, correct, 0.0)


def test_precision_at_recall() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    labels = [True, False, True, False, True]
    assert precision_at_recall(scores, labels, 0.3) == 1.0
    assert precision_at_recall(scores, labels, 0.6) == pytest.approx(2 / 3)
    assert precision_at_recall(scores, labels, 1.0) == 0.6
    # Tied scores count together: both pairs at 0.8 are in or out at once.
    assert precision_at_recall([0.9, 0.8, 0.8], [False, True, False], 0.5) == pytest.approx(1 / 3)


def test_safe_threshold() -> None:
    negatives = [0.91, 0.5, 0.8]
    assert safe_threshold(negatives, 0) > 0.91
    assert 0.8 < safe_threshold(negatives, 1) <= 0.81
    assert safe_threshold(negatives, 3) == -1.0
