"""The verifier's fitted constants (evals/cache/fit_verifier.py, QQP's public half); do not hand-edit.

FEATURES names each entry of `verifier.PairFeatures.as_vector()`; COEFFICIENTS are the logistic model's weights in
that order; ACCEPT_PROBABILITY is the cut-off; AMBIGUITY_MARGIN is `verifier.choose`'s margin; THRESHOLDS is the
cosine floor per embedder name. The floor, cut-off and margin are chosen on the evaluation (README, "Default setting").
Fit: all-MiniLM-L6-v2, QQP train half, 1569 of 5000 pairs with cosine >= 0.85 (1160 duplicates), L2 C=1.0
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
COEFFICIENTS: tuple[float, ...] = (
    -1.791159,  # bias
    3.244638,  # cosine
    0.752274,  # jaccard
    0.032266,  # only_min
    0.767559,  # only_max
    -0.865929,  # length_ratio
    -0.991872,  # negation
    -0.112679,  # antonym
    -0.217926,  # slot_swap
    -0.219206,  # slot_extra
    -0.688499,  # number
    -0.341388,  # wh
)
ACCEPT_PROBABILITY = 0.6
AMBIGUITY_MARGIN = 0.05
THRESHOLDS: dict[str, float] = {"all-MiniLM-L6-v2": 0.885}
