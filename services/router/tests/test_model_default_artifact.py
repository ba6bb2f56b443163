"""The committed router-v1 artifact: sealed, loadable, two tiers, its test-split report, weights only."""

from __future__ import annotations

import json

import numpy as np

from aiaas.routing.features import extract_features
from router.model import DEFAULT_ARTIFACT, load_artifact


def test_default_artifact_loads_and_predicts() -> None:
    model = load_artifact(DEFAULT_ARTIFACT)
    assert model.kind == "linear"
    assert model.version == "router-v1"
    assert model.tiers == ("cheap", "strong")
    assert model.embedding_dim == 384
    assert len(model.data_hash) == 64
    assert set(model.eval_report["cpt95"]) == {"gsm8k", "mmlu", "mt_bench"}
    pooled = model.eval_report["calibration"]["pooled"]
    assert pooled["ece_after"] <= pooled["ece_before"]
    assert pooled["ece_after"] <= 0.05
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=384).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    features = extract_features([{"role": "user", "content": "Prove that the square root of 2 is irrational."}])
    p = model.predict(features, embedding)
    assert list(p) == ["cheap", "strong"]
    assert all(0.0 < v < 1.0 for v in p.values())
    assert model.predict(features, None) == model.predict(features, None)
    assert 0.0 <= model.novelty(embedding) <= 2.0


def test_default_artifact_holds_weights_not_rows() -> None:
    doc = json.loads(DEFAULT_ARTIFACT.read_text())
    assert set(doc["model"]) == {"dim", "hash", "numeric", "emb_mean", "heads", "centroids", "domains", "config"}
    assert DEFAULT_ARTIFACT.stat().st_size < 1_000_000
    centroids = doc["model"]["centroids"]["shape"]
    assert centroids[0] <= 64  # k-means centres, not per-example vectors
