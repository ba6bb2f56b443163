"""Fit the verifier's logistic model on QQP's PUBLIC (train) half; write aiaas/semcache/coefficients.py.

Only pairs whose cosine reaches `--fit-floor` are used (the verifier only ever sees candidates above the cosine floor).
scikit-learn is used here, offline; serving reads the committed numbers with the standard library.
Usage: .venv/bin/python evals/cache/fit_verifier.py --threshold 0.885 --accept 0.6 --margin 0.05 [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cache_data import DataMissing, qqp_halves  # noqa: E402
from cache_eval import ROOT, load_encoder, platform_encoder  # noqa: E402

from aiaas.semcache.coefficients import FEATURES  # noqa: E402
from aiaas.semcache.verifier import features  # noqa: E402

TARGET = ROOT / "libs" / "aiaas" / "src" / "aiaas" / "semcache" / "coefficients.py"

TEMPLATE = '''"""The verifier's fitted constants (evals/cache/fit_verifier.py, QQP's public half); do not hand-edit.

FEATURES names each entry of `verifier.PairFeatures.as_vector()`; COEFFICIENTS are the logistic model's weights in
that order; ACCEPT_PROBABILITY is the cut-off; AMBIGUITY_MARGIN is `verifier.choose`'s margin; THRESHOLDS is the
cosine floor per embedder name. The floor, cut-off and margin are chosen on the evaluation (README, "Default setting").
Fit: {fit}
"""

from __future__ import annotations

FEATURES: tuple[str, ...] = (
{features})
COEFFICIENTS: tuple[float, ...] = (
{coefficients})
ACCEPT_PROBABILITY = {accept}
AMBIGUITY_MARGIN = {margin}
THRESHOLDS: dict[str, float] = {thresholds}
'''


def design(a: Sequence[str], b: Sequence[str], cos: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([features(x, y, c).as_vector() for x, y, c in zip(a, b, cos, strict=True)], dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(prog="fit-verifier")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("CACHE_EVAL_DATA", ROOT.parent / "shared" / "data"))
    )
    parser.add_argument("--encoder", default="")
    parser.add_argument("--fit-floor", type=float, default=0.85)
    parser.add_argument("--threshold", type=float, required=True, help="the embedder's default cosine floor to commit")
    parser.add_argument("--accept", type=float, required=True, help="ACCEPT_PROBABILITY to commit")
    parser.add_argument("--margin", type=float, required=True, help="AMBIGUITY_MARGIN to commit")
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        train, _ = qqp_halves(args.data_dir)
    except DataMissing as exc:
        print(f"fit-verifier: {exc}", file=sys.stderr)
        return 2
    name, encode = load_encoder(args.encoder) if args.encoder else platform_encoder()
    cos = np.sum(encode(train.a) * encode(train.b), axis=1).astype(float)
    keep = cos >= args.fit_floor
    a = [x for x, k in zip(train.a, keep, strict=True) if k]
    b = [x for x, k in zip(train.b, keep, strict=True) if k]
    y = np.array(train.labels)[keep]
    x = design(a, b, cos[keep].tolist())
    model = LogisticRegression(C=args.C, fit_intercept=False, max_iter=5000)
    model.fit(x, y)
    weights = [round(float(w), 6) for w in model.coef_[0]]
    fit = (
        f"{name}, QQP train half, {int(keep.sum())} of {len(keep)} pairs with cosine >= {args.fit_floor} "
        f"({int(y.sum())} duplicates), L2 C={args.C}"
    )
    TARGET.write_text(
        TEMPLATE.format(
            fit=fit,
            features="".join(f'    "{f}",\n' for f in FEATURES),
            coefficients="".join(f"    {w!r},  # {f}\n" for w, f in zip(weights, FEATURES, strict=True)),
            accept=args.accept,
            margin=args.margin,
            thresholds={name: args.threshold},
        ),
        encoding="utf-8",
    )
    print(fit)
    for f, w in zip(FEATURES, weights, strict=True):
        print(f"{f:>14} {w:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
