"""fit_linear on a synthetic set: the artifact it yields loads, separates the tiers, and is calibrated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router.model import load_artifact, write_document
from router.model.calibration import ece
from router.training.cli import data_dir, eval_main, train_main
from router.training.train import TrainConfig, TrainingSet, features_of, fit_linear

DIM = 8


def synthetic_set(n: int, seed: int) -> tuple[TrainingSet, list[str]]:
    """Hard prompts (long, about integrals, embedding on axis 0) fail on cheap; strong almost always succeeds."""
    rng = np.random.default_rng(seed)
    prompts: list[str] = []
    emb = np.zeros((n, DIM), dtype=np.float32)
    hard = rng.random(n) < 0.4
    for i in range(n):
        if hard[i]:
            prompts.append(f"compute the integral of x to the power {i} " + "and justify every step " * 5)
            emb[i, 0] = 1.0
        else:
            prompts.append(f"say hello to friend {i}")
            emb[i, 1] = 1.0
        emb[i] += rng.normal(0, 0.1, DIM)
        emb[i] /= np.linalg.norm(emb[i])
    cheap = np.where(hard, rng.random(n) < 0.15, rng.random(n) < 0.9).astype(np.int64)
    strong = (rng.random(n) < 0.95).astype(np.int64)
    domains: list[str | None] = ["math" if h else None for h in hard]
    calibration = np.arange(n) % 5 == 0
    data = TrainingSet(prompts, emb, {"cheap": cheap, "strong": strong}, calibration, domains)
    return data, prompts


def test_fit_yields_a_loadable_model_that_ranks_hard_prompts_strong(tmp_path: Path) -> None:
    data, _ = synthetic_set(600, 0)
    config = TrainConfig(hash_dim=256, centroids=4)
    fitted = fit_linear(data, ("cheap", "strong"), config)
    assert fitted.n_fit + fitted.n_calibration == 600
    assert fitted.n_calibration == 120
    path = tmp_path / "fit.json"
    write_document(
        {
            "kind": "linear",
            "version": "synthetic",
            "tiers": ["cheap", "strong"],
            "data_hash": "x",
            "model": fitted.model,
        },
        path,
    )
    model = load_artifact(path)
    test, prompts = synthetic_set(400, 1)
    probs = np.array(
        [[model.predict(features_of(p), test.embeddings[i])[t] for t in model.tiers] for i, p in enumerate(prompts)]
    )
    hard = test.embeddings[:, 0] > 0.5
    assert probs[hard, 0].mean() < 0.35 < 0.8 < probs[~hard, 0].mean()
    assert probs[:, 1].mean() == pytest.approx(0.95, abs=0.05)
    assert ece(probs[:, 0], test.labels["cheap"]) < 0.08
    assert model.domain_flags(test.embeddings[hard].mean(axis=0)) == frozenset({"math"})
    assert model.domain_flags(test.embeddings[~hard].mean(axis=0)) == frozenset()
    assert model.novelty(test.embeddings[0]) < 0.2
    far = np.zeros(DIM)
    far[DIM - 1] = 1.0
    assert model.novelty(far) > 0.5


def test_fit_is_deterministic() -> None:
    data, _ = synthetic_set(300, 2)
    config = TrainConfig(hash_dim=128, centroids=3)
    assert fit_linear(data, ("cheap", "strong"), config).model == fit_linear(data, ("cheap", "strong"), config).model


def test_missing_data_dir_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        data_dir(str(tmp_path / "absent"))
    assert exc.value.code == 2
    assert "router data not found" in capsys.readouterr().err
    for main in (train_main, eval_main):
        with pytest.raises(SystemExit) as exc:
            main(["--data-dir", str(tmp_path / "absent"), "--embed-cache", str(tmp_path / "cache")])
        assert exc.value.code == 2
