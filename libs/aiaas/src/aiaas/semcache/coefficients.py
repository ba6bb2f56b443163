"""The verifier's fitted constants (evals/cache/fit_verifier.py, QQP's public half); do not hand-edit.

FEATURES names each entry of `verifier.PairFeatures.as_vector()`; COEFFICIENTS are the logistic model's weights in
that order; ACCEPT_PROBABILITY is the cut-off; THRESHOLDS is the cosine floor per embedder name.
"""

from __future__ import annotations

FEATURES: tuple[str, ...] = (
    "bias",
    "cosine",
    "jaccard",
    "only_min",
    "only_max",
    "length_ratio",
    "negation",
    "antonym",
    "slot_swap",
    "slot_extra",
    "number",
    "wh",
)
# Provisional (hand-set until the offline fit lands).
COEFFICIENTS: tuple[float, ...] = (-30.0, 30.0, 4.0, -2.0, -1.0, 0.5, -3.0, -3.0, -3.0, -1.0, -2.0, -1.0)
ACCEPT_PROBABILITY = 0.5
THRESHOLDS: dict[str, float] = {"all-MiniLM-L6-v2": 0.85}
