"""RouterModel: calibrated P(tier answers well | request) from a loaded artifact, in numpy only.

Two kinds:
- `linear`: per tier a logistic head over [embedding (384), hashed TF-IDF of the query's terms, standardised
  numeric features (log1p token_count, json_schema_strictness)], divided by the head's fitted temperature
  before the sigmoid. Also k-means centroids of the training embeddings (novelty = 1 - best cosine) and
  per-domain embedding centroids with a cosine threshold each (`domain_flags`).
- `constant`: a fixed p per tier (tests and canaries build "always cheapest" versions with it).

A missing embedding (None) is imputed with the training mean embedding, so the text and numeric parts still
score; a wrong-sized embedding raises ValueError (the caller's "feature error" -> fallback).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.routing.features import RequestFeatures
from router.model.artifact import ArtifactError, decode_array, read_document
from router.model.text import hashed_vector

__all__ = [
    "DEFAULT_TIERS",
    "NUMERIC",
    "NUMERIC_FEATURES",
    "Head",
    "RouterModel",
    "load_artifact",
    "model_from_document",
    "numeric_vector",
]

DEFAULT_TIERS: tuple[str, ...] = ("cheap", "strong")


def _log_tokens(features: RequestFeatures) -> float:
    return math.log1p(max(0, features.token_count))


# Numeric features a linear artifact may use (it lists the names it was trained with, in order).
NUMERIC: dict[str, Callable[[RequestFeatures], float]] = {
    "log1p_token_count": _log_tokens,
    "json_schema_strictness": lambda f: float(f.json_schema_strictness),
    "log1p_number_terms": lambda f: math.log1p(sum(1 for t in f.terms if t.isdigit())),
    "math_log1p_token_count": lambda f: _log_tokens(f) if "math" in f.domain_flags else 0.0,
    "code_log1p_token_count": lambda f: _log_tokens(f) if "code" in f.domain_flags else 0.0,
}
NUMERIC_FEATURES: tuple[str, ...] = ("log1p_token_count", "json_schema_strictness")


def numeric_vector(features: RequestFeatures, names: Sequence[str] = NUMERIC_FEATURES) -> np.ndarray:
    """The raw numeric features `names` (keys of `NUMERIC`) of a request, in that order."""
    return np.array([NUMERIC[name](features) for name in names], dtype=np.float32)


@dataclass(frozen=True)
class Head:
    """One tier's logistic head and its temperature."""

    w_emb: np.ndarray
    w_hash: np.ndarray
    w_num: np.ndarray
    bias: float
    temperature: float


@dataclass(frozen=True)
class _Linear:
    dim: int
    ngrams: int
    idf: np.ndarray
    num_names: tuple[str, ...]
    num_mean: np.ndarray
    num_scale: np.ndarray
    emb_mean: np.ndarray
    heads: dict[str, Head]
    centroids: np.ndarray
    domain_names: tuple[str, ...]
    domain_centroids: np.ndarray
    domain_thresholds: np.ndarray


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise ArtifactError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ArtifactError(f"{where}: expected an object")
    return value


def _parse_linear(model: Mapping[str, Any], tiers: Sequence[str]) -> _Linear:
    dim = model.get("dim")
    if not isinstance(dim, int) or dim <= 0:
        raise ArtifactError("model.dim: expected a positive integer")
    hashing = _mapping(model.get("hash"), "model.hash")
    ngrams = hashing.get("ngrams", 2)
    if not isinstance(ngrams, int) or ngrams not in (1, 2):
        raise ArtifactError("model.hash.ngrams: expected 1 or 2")
    idf = decode_array(hashing.get("idf"), "model.hash.idf")
    numeric = _mapping(model.get("numeric"), "model.numeric")
    num_names = numeric.get("names")
    if not isinstance(num_names, list) or not all(isinstance(n, str) and n in NUMERIC for n in num_names):
        raise ArtifactError(f"model.numeric.names: expected a list of {sorted(NUMERIC)}")
    num_mean = decode_array(numeric.get("mean"), "model.numeric.mean")
    num_scale = decode_array(numeric.get("scale"), "model.numeric.scale")
    emb_mean = decode_array(model.get("emb_mean"), "model.emb_mean")
    heads_doc = _mapping(model.get("heads"), "model.heads")
    heads: dict[str, Head] = {}
    for tier in tiers:
        doc = _mapping(heads_doc.get(tier), f"model.heads.{tier}")
        temperature = _float(doc.get("temperature"), f"model.heads.{tier}.temperature")
        if temperature <= 0:
            raise ArtifactError(f"model.heads.{tier}.temperature: must be > 0")
        heads[tier] = Head(
            w_emb=decode_array(doc.get("w_emb"), f"model.heads.{tier}.w_emb"),
            w_hash=decode_array(doc.get("w_hash"), f"model.heads.{tier}.w_hash"),
            w_num=decode_array(doc.get("w_num"), f"model.heads.{tier}.w_num"),
            bias=_float(doc.get("bias"), f"model.heads.{tier}.bias"),
            temperature=temperature,
        )
    centroids = decode_array(model.get("centroids"), "model.centroids")
    domains = _mapping(model.get("domains"), "model.domains")
    names = domains.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArtifactError("model.domains.names: expected a list of strings")
    domain_centroids = decode_array(domains.get("centroids"), "model.domains.centroids")
    thresholds = decode_array(domains.get("thresholds"), "model.domains.thresholds")
    linear = _Linear(
        dim,
        ngrams,
        idf,
        tuple(num_names),
        num_mean,
        num_scale,
        emb_mean,
        heads,
        centroids,
        tuple(names),
        domain_centroids,
        thresholds,
    )
    _check_shapes(linear)
    return linear


def _check_shapes(m: _Linear) -> None:
    n_num = len(m.num_names)
    ok = (
        m.idf.ndim == 1
        and m.idf.shape[0] > 0
        and m.num_mean.shape == (n_num,)
        and m.num_scale.shape == (n_num,)
        and bool(np.all(m.num_scale > 0))
        and m.emb_mean.shape == (m.dim,)
        and m.centroids.ndim == 2
        and m.centroids.shape[1] == m.dim
        and m.domain_centroids.shape == (len(m.domain_names), m.dim)
        and m.domain_thresholds.shape == (len(m.domain_names),)
    )
    for head in m.heads.values():
        ok = ok and head.w_emb.shape == (m.dim,) and head.w_hash.shape == m.idf.shape and head.w_num.shape == (n_num,)
    if not ok:
        raise ArtifactError("model: array shapes do not agree")


class RouterModel:
    """A loaded router version: `predict`, `novelty`, `domain_flags` (see the module docstring)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        kind = document.get("kind")
        tiers = document.get("tiers")
        if not isinstance(tiers, list) or not tiers or not all(isinstance(t, str) and t for t in tiers):
            raise ArtifactError("tiers: expected a non-empty list of names, cheapest first")
        if len(set(tiers)) != len(tiers):
            raise ArtifactError("tiers: duplicate names")
        version = document.get("version")
        if not isinstance(version, str) or not version:
            raise ArtifactError("version: expected a non-empty string")
        self.kind: str = str(kind)
        self.tiers: tuple[str, ...] = tuple(tiers)
        self.version: str = version
        self.sha256: str = str(document.get("sha256", ""))
        self.data_hash: str = str(document.get("data_hash", ""))
        report = document.get("eval_report", {})
        self.eval_report: dict[str, Any] = dict(report) if isinstance(report, Mapping) else {}
        model = _mapping(document.get("model"), "model")
        self._constant: dict[str, float] | None = None
        self._linear: _Linear | None = None
        if kind == "constant":
            p = _mapping(model.get("p"), "model.p")
            constant = {tier: _float(p.get(tier), f"model.p.{tier}") for tier in self.tiers}
            if not all(0.0 <= v <= 1.0 for v in constant.values()):
                raise ArtifactError("model.p: probabilities must lie in [0, 1]")
            self._constant = constant
        elif kind == "linear":
            self._linear = _parse_linear(model, self.tiers)
        else:
            raise ArtifactError(f"kind: unknown {kind!r} (expected 'linear' or 'constant')")

    @property
    def embedding_dim(self) -> int | None:
        """The embedding size the model expects (None for a constant model)."""
        return self._linear.dim if self._linear is not None else None

    def _embedding(self, embedding: np.ndarray | Sequence[float] | None, m: _Linear) -> np.ndarray | None:
        if embedding is None:
            return None
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != m.dim:
            raise ValueError(f"embedding has {vector.shape[0]} dimensions, the model expects {m.dim}")
        if not np.all(np.isfinite(vector)):
            raise ValueError("embedding holds non-finite values")
        return vector

    def logits(self, features: RequestFeatures, embedding: np.ndarray | Sequence[float] | None) -> dict[str, float]:
        """Uncalibrated logits per tier (temperature not applied); constant models give logit(p)."""
        if self._constant is not None:
            return {t: math.log(max(p, 1e-9) / max(1.0 - p, 1e-9)) for t, p in self._constant.items()}
        m = self._linear
        assert m is not None
        return self._logits(features, self._embedding(embedding, m), m)

    def _logits(self, features: RequestFeatures, vector: np.ndarray | None, m: _Linear) -> dict[str, float]:
        emb = m.emb_mean if vector is None else vector
        index, values = hashed_vector(features.terms, m.idf, m.ngrams)
        numeric = (numeric_vector(features, m.num_names) - m.num_mean) / m.num_scale
        out: dict[str, float] = {}
        for tier, head in m.heads.items():
            z = float(head.w_emb @ emb) + float(head.w_num @ numeric) + head.bias
            if index.size:
                z += float(head.w_hash[index] @ values)
            out[tier] = z
        return out

    def predict(self, features: RequestFeatures, embedding: np.ndarray | Sequence[float] | None) -> dict[str, float]:
        """Calibrated P(tier answers well) for every tier, in tier order."""
        if self._constant is not None:
            return dict(self._constant)
        m = self._linear
        assert m is not None
        return self._calibrated(self._logits(features, self._embedding(embedding, m), m), m)

    def assess(
        self, features: RequestFeatures, embedding: np.ndarray | Sequence[float] | None
    ) -> tuple[dict[str, float], frozenset[str], float]:
        """`predict`, `domain_flags` and `novelty` at once, the embedding checked and normalised once (a decision's
        model work)."""
        m = self._linear
        if m is None:
            return self.predict(features, embedding), frozenset(), self.novelty(embedding)
        vector = self._embedding(embedding, m)
        p = self._calibrated(self._logits(features, vector, m), m)
        norm = float(np.linalg.norm(vector)) if vector is not None else 0.0
        if vector is None or norm == 0.0:
            return p, frozenset(), 1.0
        unit = vector / norm
        return p, self._domains(unit, m), self._novelty(unit, m)

    def _calibrated(self, logits: dict[str, float], m: _Linear) -> dict[str, float]:
        out: dict[str, float] = {}
        for tier in self.tiers:
            z = logits[tier] / m.heads[tier].temperature
            out[tier] = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return out

    def novelty(self, embedding: np.ndarray | Sequence[float] | None) -> float:
        """1 - best cosine to the training centroids, in [0, 2]; 1.0 without an embedding; 0.0 for constant."""
        m = self._linear
        if m is None:
            return 0.0
        vector = self._embedding(embedding, m)
        if vector is None:
            return 1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return 1.0
        return self._novelty(vector / norm, m)

    @staticmethod
    def _novelty(unit: np.ndarray, m: _Linear) -> float:
        if m.centroids.shape[0] == 0:
            return 1.0
        return float(1.0 - np.max(m.centroids @ unit))

    def domain_flags(self, embedding: np.ndarray | Sequence[float] | None) -> frozenset[str]:
        """Domains whose embedding centroid is within the domain's cosine threshold."""
        m = self._linear
        if m is None or not m.domain_names:
            return frozenset()
        vector = self._embedding(embedding, m)
        if vector is None:
            return frozenset()
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return frozenset()
        return self._domains(vector / norm, m)

    @staticmethod
    def _domains(unit: np.ndarray, m: _Linear) -> frozenset[str]:
        if not m.domain_names:
            return frozenset()
        cosines = m.domain_centroids @ unit
        return frozenset(
            name for name, c, t in zip(m.domain_names, cosines, m.domain_thresholds, strict=True) if c >= t
        )


def model_from_document(document: Mapping[str, Any]) -> RouterModel:
    """A RouterModel from an (already verified) artifact document."""
    return RouterModel(document)


def load_artifact(path: str | Path) -> RouterModel:
    """Load and verify the artifact at `path`; ArtifactError when missing, corrupt, tampered or malformed."""
    return RouterModel(read_document(path))
