"""Fit the router's linear model: per tier a logistic head over [embedding, hashed TF-IDF, numeric features].

Steps (all on the training half; the test half is never read here):
1. features exactly as at serving time: `extract_features` of a one-message chat, the embedder's vector;
2. train splits into a fit part (4/5) and a calibration part (1/5) by `calibration_part(prompt)`;
3. IDF and numeric standardisation on the fit part; one L2-regularised logistic regression per tier on the fit
   part, with block weights (embedding, text, numeric) folded into the stored weights;
4. per tier a temperature T minimising the calibration part's NLL;
5. k-means centroids of the fit embeddings (novelty), per-domain centroids with a cosine threshold each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from aiaas.routing.features import RequestFeatures, extract_features
from router.model.artifact import encode_array
from router.model.calibration import fit_temperature
from router.model.predictor import NUMERIC_FEATURES, numeric_vector
from router.model.text import bucket_counts, sparse_rows

__all__ = ["TrainConfig", "TrainingSet", "FittedModel", "features_of", "fit_linear"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (chosen on the training half only; see router-eval's report)."""

    hash_dim: int = 1 << 14
    ngrams: int = 2
    c: float = 1.0
    emb_weight: float = 1.0
    text_weight: float = 1.0
    num_weight: float = 1.0
    centroids: int = 32
    domain_quantile: float = 0.25
    seed: int = 0
    numeric: tuple[str, ...] = NUMERIC_FEATURES


@dataclass(frozen=True)
class TrainingSet:
    """Prompts, their embeddings, per-tier success labels, calibration mask and optional domain labels."""

    prompts: Sequence[str]
    embeddings: np.ndarray
    labels: Mapping[str, np.ndarray]
    calibration: np.ndarray
    domains: Sequence[str | None] = field(default=())


@dataclass(frozen=True)
class FittedModel:
    """The artifact's `model` object and training-side diagnostics."""

    model: dict[str, object]
    temperatures: dict[str, float]
    n_fit: int
    n_calibration: int


def features_of(prompt: str) -> RequestFeatures:
    """Serving-time features of a one-message chat with `prompt`."""
    return extract_features([{"role": "user", "content": prompt}])


def _idf(term_rows: Sequence[Sequence[str]], dim: int, ngrams: int) -> np.ndarray:
    df = np.zeros(dim, dtype=np.float64)
    for terms in term_rows:
        for bucket in bucket_counts(terms, dim, ngrams):
            df[bucket] += 1
    return (np.log((1.0 + len(term_rows)) / (1.0 + df)) + 1.0).astype(np.float32)


def design(
    features: Sequence[RequestFeatures],
    embeddings: np.ndarray,
    idf: np.ndarray,
    num_mean: np.ndarray,
    num_scale: np.ndarray,
    config: TrainConfig,
) -> sp.csr_matrix:
    """The weighted design matrix [emb * a_e | hashed * a_t | numeric * a_n]."""
    data, indices, indptr = sparse_rows([f.terms for f in features], idf, config.ngrams)
    hashed = sp.csr_matrix((data, indices, indptr), shape=(len(features), idf.shape[0]))
    numeric = (np.stack([numeric_vector(f, config.numeric) for f in features]) - num_mean) / num_scale
    return sp.hstack(
        [
            sp.csr_matrix(embeddings * config.emb_weight),
            hashed * config.text_weight,
            sp.csr_matrix(numeric * config.num_weight),
        ]
    ).tocsr()


def _domain_centroids(
    embeddings: np.ndarray, domains: Sequence[str | None], quantile: float
) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = sorted({d for d in domains if d})
    centroids = np.zeros((len(names), embeddings.shape[1]), dtype=np.float32)
    thresholds = np.zeros(len(names), dtype=np.float32)
    labels = np.array([d or "" for d in domains])
    for i, name in enumerate(names):
        members = embeddings[labels == name]
        centre = members.mean(axis=0)
        centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
        centroids[i] = centre
        thresholds[i] = float(np.quantile(members @ centre, quantile))
    return names, centroids, thresholds


def fit_linear(data: TrainingSet, tiers: Sequence[str], config: TrainConfig) -> FittedModel:
    """Fit heads, temperatures, centroids; return the artifact's `model` object."""
    features = [features_of(p) for p in data.prompts]
    cal = np.asarray(data.calibration, dtype=bool)
    fit = ~cal
    fit_features = [f for f, c in zip(features, cal, strict=True) if not c]
    idf = _idf([f.terms for f in fit_features], config.hash_dim, config.ngrams)
    numeric = np.stack([numeric_vector(f, config.numeric) for f in fit_features])
    num_mean = numeric.mean(axis=0).astype(np.float32)
    spread = numeric.std(axis=0)
    num_scale = np.where(spread > 1e-6, spread, 1.0).astype(np.float32)
    x_all = design(features, data.embeddings, idf, num_mean, num_scale, config)
    x_fit, x_cal = x_all[np.nonzero(fit)[0]], x_all[np.nonzero(cal)[0]]
    dim = data.embeddings.shape[1]
    heads: dict[str, object] = {}
    temperatures: dict[str, float] = {}
    for tier in tiers:
        y = np.asarray(data.labels[tier], dtype=np.int64)
        clf = LogisticRegression(C=config.c, max_iter=3000, random_state=config.seed)
        clf.fit(x_fit, y[fit])
        coef = clf.coef_[0]
        bias = float(clf.intercept_[0])
        w_emb = coef[:dim] * config.emb_weight
        w_hash = coef[dim : dim + config.hash_dim] * config.text_weight
        w_num = coef[dim + config.hash_dim :] * config.num_weight
        temperature = fit_temperature(np.asarray(x_cal @ coef + bias), y[cal]) if cal.any() else 1.0
        temperatures[tier] = temperature
        heads[tier] = {
            "w_emb": encode_array(w_emb),
            "w_hash": encode_array(w_hash),
            "w_num": encode_array(w_num),
            "bias": bias,
            "temperature": temperature,
        }
    fit_embeddings = data.embeddings[fit]
    k = min(config.centroids, fit_embeddings.shape[0])
    km = KMeans(n_clusters=k, n_init=4, random_state=config.seed).fit(fit_embeddings)
    centroids = km.cluster_centers_ / np.maximum(np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True), 1e-12)
    domains = list(data.domains) if data.domains else [None] * len(features)
    fit_domains = [d for d, c in zip(domains, cal, strict=True) if not c]
    names, domain_centroids, thresholds = _domain_centroids(fit_embeddings, fit_domains, config.domain_quantile)
    model: dict[str, object] = {
        "dim": dim,
        "hash": {"dim": config.hash_dim, "ngrams": config.ngrams, "idf": encode_array(idf)},
        "numeric": {"names": list(config.numeric), "mean": encode_array(num_mean), "scale": encode_array(num_scale)},
        "emb_mean": encode_array(fit_embeddings.mean(axis=0)),
        "heads": heads,
        "centroids": encode_array(centroids),
        "domains": {
            "names": names,
            "centroids": encode_array(domain_centroids),
            "thresholds": encode_array(thresholds),
        },
        "config": {
            "c": config.c,
            "emb_weight": config.emb_weight,
            "text_weight": config.text_weight,
            "num_weight": config.num_weight,
            "centroids": k,
            "domain_quantile": config.domain_quantile,
            "seed": config.seed,
        },
    }
    return FittedModel(model, temperatures, int(fit.sum()), int(cal.sum()))
