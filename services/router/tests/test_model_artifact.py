"""The router artifact: sealed JSON round trip, ArtifactError on missing/corrupt/tampered files, both kinds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiaas.routing.features import extract_features
from router.model import (
    DEFAULT_TIERS,
    ArtifactError,
    RouterModel,
    constant_model,
    load_artifact,
    payload_sha256,
    seal,
    write_constant_artifact,
    write_document,
)
from router.model.artifact import encode_array
from router.model.text import hashed_vector

DIM = 4
HASH_DIM = 64


def linear_document(version: str = "t-1") -> dict[str, Any]:
    """A tiny linear artifact: cheap depends on the embedding's first axis, strong on the token count."""
    rng = np.random.default_rng(7)
    heads = {
        "cheap": {
            "w_emb": encode_array([2.0, 0.0, 0.0, 0.0]),
            "w_hash": encode_array(rng.normal(0, 0.1, HASH_DIM)),
            "w_num": encode_array([-0.5, 0.0]),
            "bias": 0.25,
            "temperature": 2.0,
        },
        "strong": {
            "w_emb": encode_array([0.0, 1.0, 0.0, 0.0]),
            "w_hash": encode_array(np.zeros(HASH_DIM)),
            "w_num": encode_array([0.3, 0.1]),
            "bias": 1.5,
            "temperature": 1.0,
        },
    }
    centroids = np.eye(DIM, dtype=np.float32)[:2]
    return {
        "kind": "linear",
        "version": version,
        "tiers": ["cheap", "strong"],
        "data_hash": "d" * 64,
        "eval_report": {"cpt95": {"gsm8k": 0.6}},
        "model": {
            "dim": DIM,
            "hash": {"dim": HASH_DIM, "ngrams": 2, "idf": encode_array(np.linspace(1.0, 3.0, HASH_DIM))},
            "numeric": {
                "names": ["log1p_token_count", "json_schema_strictness"],
                "mean": encode_array([2.0, 0.0]),
                "scale": encode_array([1.0, 1.0]),
            },
            "emb_mean": encode_array([0.5, 0.5, 0.0, 0.0]),
            "heads": heads,
            "centroids": encode_array(centroids),
            "domains": {
                "names": ["math"],
                "centroids": encode_array(np.array([[0.0, 0.0, 1.0, 0.0]])),
                "thresholds": encode_array([0.8]),
            },
        },
    }


def expected_p(doc: dict[str, Any], tier: str, text: str, embedding: np.ndarray) -> float:
    """The documented formula, recomputed by hand from the document."""
    model = load_doc_arrays(doc)
    head = model["heads"][tier]
    features = extract_features([{"role": "user", "content": text}])
    index, values = hashed_vector(features.terms, model["idf"])
    numeric = (np.array([math.log1p(features.token_count), features.json_schema_strictness]) - model["mean"]) / 1.0
    z = head["w_emb"] @ embedding + head["w_hash"][index] @ values + head["w_num"] @ numeric + head["bias"]
    return 1.0 / (1.0 + math.exp(-z / head["temperature"]))


def load_doc_arrays(doc: dict[str, Any]) -> dict[str, Any]:
    from router.model.artifact import decode_array

    m = doc["model"]
    heads = {
        t: {
            "w_emb": decode_array(h["w_emb"], "x"),
            "w_hash": decode_array(h["w_hash"], "x"),
            "w_num": decode_array(h["w_num"], "x"),
            "bias": h["bias"],
            "temperature": h["temperature"],
        }
        for t, h in m["heads"].items()
    }
    return {"heads": heads, "idf": decode_array(m["hash"]["idf"], "x"), "mean": decode_array(m["numeric"]["mean"], "x")}


def test_linear_round_trip_and_predict(tmp_path: Path) -> None:
    doc = linear_document()
    path = tmp_path / "router.json"
    sealed = write_document(doc, path)
    model = load_artifact(path)
    assert model.kind == "linear"
    assert model.version == "t-1"
    assert model.tiers == ("cheap", "strong")
    assert model.sha256 == sealed["sha256"] == payload_sha256(json.loads(path.read_text()))
    assert model.data_hash == "d" * 64
    assert model.eval_report == {"cpt95": {"gsm8k": 0.6}}
    assert model.embedding_dim == DIM
    embedding = np.array([0.6, 0.8, 0.0, 0.0], dtype=np.float32)
    text = "Solve 3 + 4 and explain the answer"
    p = model.predict(extract_features([{"role": "user", "content": text}]), embedding)
    assert list(p) == ["cheap", "strong"]
    for tier in p:
        assert p[tier] == pytest.approx(expected_p(doc, tier, text, embedding), rel=1e-5)
        assert 0.0 < p[tier] < 1.0


def test_temperature_divides_the_logit(tmp_path: Path) -> None:
    model = RouterModel(seal(linear_document()))
    features = extract_features([{"role": "user", "content": "hello there"}])
    embedding = np.array([1.0, 0.0, 0.0, 0.0])
    z = model.logits(features, embedding)["cheap"]
    assert model.predict(features, embedding)["cheap"] == pytest.approx(1 / (1 + math.exp(-z / 2.0)), rel=1e-6)


def test_missing_embedding_uses_the_training_mean() -> None:
    model = RouterModel(seal(linear_document()))
    features = extract_features([{"role": "user", "content": "hello"}])
    assert model.predict(features, None) == model.predict(features, np.array([0.5, 0.5, 0.0, 0.0]))
    assert model.novelty(None) == 1.0
    assert model.domain_flags(None) == frozenset()


def test_bad_embeddings_raise_value_error() -> None:
    model = RouterModel(seal(linear_document()))
    features = extract_features([{"role": "user", "content": "hello"}])
    with pytest.raises(ValueError, match="dimensions"):
        model.predict(features, np.zeros(DIM + 1))
    with pytest.raises(ValueError, match="non-finite"):
        model.predict(features, np.array([np.nan, 0, 0, 0]))


def test_novelty_and_domain_centroids() -> None:
    model = RouterModel(seal(linear_document()))
    assert model.novelty(np.array([3.0, 0.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-6)
    assert model.novelty(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(1.0, abs=1e-6)
    assert model.novelty(np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(1 - math.sqrt(0.5), abs=1e-6)
    assert model.domain_flags(np.array([0.0, 0.1, 1.0, 0.0])) == frozenset({"math"})
    assert model.domain_flags(np.array([1.0, 0.0, 0.3, 0.0])) == frozenset()


def test_constant_kind_in_memory_and_on_disk(tmp_path: Path) -> None:
    model = constant_model({"cheap": 0.99, "strong": 0.5}, version="always-cheap")
    features = extract_features([{"role": "user", "content": "anything"}])
    assert model.kind == "constant"
    assert model.tiers == DEFAULT_TIERS
    assert model.predict(features, None) == {"cheap": 0.99, "strong": 0.5}
    assert model.predict(features, np.ones(384)) == {"cheap": 0.99, "strong": 0.5}
    assert model.novelty(np.ones(384)) == 0.0
    assert model.domain_flags(np.ones(384)) == frozenset()
    assert model.embedding_dim is None
    path = tmp_path / "c.json"
    doc = write_constant_artifact(path, {"a": 0.2, "b": 0.4, "c": 0.9}, version="three", tiers=("a", "b", "c"))
    loaded = load_artifact(path)
    assert loaded.tiers == ("a", "b", "c")
    assert loaded.sha256 == doc["sha256"]
    assert loaded.predict(features, None) == {"a": 0.2, "b": 0.4, "c": 0.9}


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        load_artifact(tmp_path / "nope.json")


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe", b"[1, 2]", b'{"format": "other"}'])
def test_corrupt_files_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ArtifactError):
        load_artifact(path)


def test_truncated_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_document(linear_document(), path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(path)


def test_edited_weight_is_a_hash_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_document(linear_document(), path)
    doc = json.loads(path.read_text())
    doc["model"]["heads"]["cheap"]["bias"] = 9.0
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_artifact(path)
    doc["sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_artifact(path)


def test_removed_seal_raises(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    doc = write_document(linear_document(), path)
    del doc["sha256"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_artifact(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(kind="forest"),
        lambda d: d.update(tiers=[]),
        lambda d: d.update(tiers=["cheap", "cheap"]),
        lambda d: d.update(version=""),
        lambda d: d["model"]["heads"].pop("strong"),
        lambda d: d["model"]["heads"]["cheap"].update(temperature=0),
        lambda d: d["model"]["heads"]["cheap"].update(w_emb=encode_array([1.0, 2.0])),
        lambda d: d["model"]["heads"]["cheap"].update(w_hash={"dtype": "float32", "shape": [64], "b64": "AAAA"}),
        lambda d: d["model"]["numeric"].update(names=["x"]),
        lambda d: d["model"].update(centroids=encode_array(np.zeros((2, 3)))),
    ],
)
def test_well_sealed_but_malformed_documents_raise(tmp_path: Path, edit: Any) -> None:
    doc = linear_document()
    edit(doc)
    path = tmp_path / "m.json"
    write_document(doc, path)  # a valid seal over a malformed model
    with pytest.raises(ArtifactError):
        load_artifact(path)


def test_constant_probabilities_must_be_in_range() -> None:
    with pytest.raises(ArtifactError):
        constant_model({"cheap": 1.5, "strong": 0.5})
    with pytest.raises(KeyError):
        constant_model({"cheap": 0.5})


def test_numeric_features_by_name() -> None:
    from router.model.predictor import NUMERIC, numeric_vector

    features = extract_features([{"role": "user", "content": "How many apples are 12 plus 30?"}], None, None)
    assert "math" in features.domain_flags
    names = (
        "log1p_token_count",
        "json_schema_strictness",
        "log1p_number_terms",
        "math_log1p_token_count",
        "code_log1p_token_count",
    )
    assert set(names) == set(NUMERIC)
    values = numeric_vector(features, names)
    log_tokens = math.log1p(features.token_count)
    assert values.tolist() == pytest.approx([log_tokens, 0.0, math.log1p(2), log_tokens, 0.0])


def test_assess_is_predict_domains_and_novelty_at_once() -> None:
    model = RouterModel(seal(linear_document()))
    features = extract_features([{"role": "user", "content": "Solve 3 + 4 and explain the answer"}])
    for embedding in (
        None,
        np.zeros(DIM),
        np.array([3.0, 0.0, 0.0, 0.0]),
        np.array([0.0, 0.1, 1.0, 0.0]),
        np.array([1.0, 1.0, 0.0, 0.0]),
    ):
        p, domains, novelty = model.assess(features, embedding)
        assert p == model.predict(features, embedding)
        assert domains == model.domain_flags(embedding)
        assert novelty == model.novelty(embedding)
    assert model.assess(features, np.array([0.0, 0.1, 1.0, 0.0]))[1] == frozenset({"math"})
    with pytest.raises(ValueError, match="non-finite"):
        model.assess(features, np.array([np.nan, 0, 0, 0]))
    constant = constant_model({"cheap": 0.99, "strong": 0.5}, version="always-cheap")
    assert constant.assess(features, np.ones(384)) == ({"cheap": 0.99, "strong": 0.5}, frozenset(), 0.0)
