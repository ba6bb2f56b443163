"""Temperature scaling: fitted on a calibration part, it lowers ECE on held-out data of the same kind."""

from __future__ import annotations

import numpy as np
import pytest

from router.model.calibration import apply_temperature, ece, fit_temperature, log_loss


def synthetic(seed: int, n: int, true_temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose real probability is sigmoid(z / T): an over-confident model when T > 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z / true_temperature))).astype(np.float64)
    return z, y


def test_ece_of_known_cases() -> None:
    assert ece(np.array([0.9, 0.9, 0.9, 0.9]), np.array([1, 1, 1, 0])) == pytest.approx(0.15)
    assert ece(np.array([0.25, 0.75]), np.array([0, 1]), bins=2) == pytest.approx(0.25)
    assert ece(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0
    assert ece(np.array([]), np.array([])) == 0.0


def test_fit_recovers_the_temperature_and_lowers_ece_on_held_out_data() -> None:
    z_cal, y_cal = synthetic(1, 4000, 2.5)
    z_test, y_test = synthetic(2, 4000, 2.5)
    t = fit_temperature(z_cal, y_cal)
    assert 2.0 < t < 3.1
    before = ece(apply_temperature(z_test, 1.0), y_test)
    after = ece(apply_temperature(z_test, t), y_test)
    assert before > 0.08
    assert after < before / 2
    assert log_loss(apply_temperature(z_test, t), y_test) < log_loss(apply_temperature(z_test, 1.0), y_test)


def test_under_confident_logits_get_a_temperature_below_one() -> None:
    z_cal, y_cal = synthetic(3, 4000, 0.5)
    assert fit_temperature(z_cal, y_cal) < 0.7


def test_empty_calibration_set_keeps_the_logits() -> None:
    assert fit_temperature(np.array([]), np.array([])) == 1.0
