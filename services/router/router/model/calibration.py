"""Temperature scaling and expected calibration error (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["apply_temperature", "ece", "fit_temperature", "log_loss"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """sigmoid(logits / temperature)."""
    return _sigmoid(np.asarray(logits, dtype=np.float64) / temperature)


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary negative log-likelihood."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature T minimising the NLL of sigmoid(logits / T): golden-section search over log T."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.size == 0:
        return 1.0

    def loss(log_t: float) -> float:
        return log_loss(apply_temperature(z, float(np.exp(log_t))), y)

    a, b = float(np.log(low)), float(np.log(high))
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2.0))


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with `bins` equal-width bins on [0, 1] (|mean p - accuracy| weighted by count)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if count:
            total += count * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return total / p.size
