"""Train the default router on the RouteLLM GSM8K + MMLU train halves and score it on the test halves.

`train_router` writes nothing: it returns the sealed artifact document (weights, centroids, data hash, and the
eval report measured on the test halves). `score_routellm` scores any RouterModel through its serving path
(`predict` on serving-time features), so the committed artifact is what is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from router.model.artifact import seal
from router.model.calibration import apply_temperature, ece
from router.model.predictor import DEFAULT_TIERS, RouterModel
from router.training.datasets import (
    SUBJECT_DOMAINS,
    Example,
    MTBenchQuestion,
    calibration_part,
    data_hash,
    load_gsm8k,
    load_mmlu,
    load_mt_bench,
    routellm_files,
    split_examples,
)
from router.training.embeddings import EMBEDDER_NAME, embed_texts, embedder_variant
from router.training.metrics import benchmark_report
from router.training.train import TrainConfig, TrainingSet, features_of, fit_linear

__all__ = ["RouteLLMData", "load_routellm", "train_router", "score_routellm", "routellm_training_set"]

VERSION = "router-v1"


@dataclass(frozen=True)
class RouteLLMData:
    """The RouteLLM sets with embeddings: train = GSM8K + MMLU train halves; test halves; MT-Bench whole."""

    train: list[Example]
    train_emb: np.ndarray
    gsm8k_test: list[Example]
    gsm8k_emb: np.ndarray
    mmlu_test: list[Example]
    mmlu_emb: np.ndarray
    mt_bench: list[MTBenchQuestion]
    mt_emb: np.ndarray
    data_hash: str


def load_routellm(root: Path, cache_dir: Path) -> RouteLLMData:
    """Read, split and embed the RouteLLM sets (embeddings come from the disk cache after the first run)."""
    gsm8k_train, gsm8k_test = split_examples(load_gsm8k(root))
    mmlu_train, mmlu_test = split_examples(load_mmlu(root))
    mt_bench = load_mt_bench(root)
    train = gsm8k_train + mmlu_train
    return RouteLLMData(
        train=train,
        train_emb=embed_texts([e.prompt for e in train], cache_dir),
        gsm8k_test=gsm8k_test,
        gsm8k_emb=embed_texts([e.prompt for e in gsm8k_test], cache_dir),
        mmlu_test=mmlu_test,
        mmlu_emb=embed_texts([e.prompt for e in mmlu_test], cache_dir),
        mt_bench=mt_bench,
        mt_emb=embed_texts([q.turn1 for q in mt_bench], cache_dir),
        data_hash=data_hash(routellm_files(root), root),
    )


def routellm_training_set(data: RouteLLMData) -> TrainingSet:
    """The two-tier training set: cheap = Mixtral correct, strong = GPT-4 correct."""
    return TrainingSet(
        prompts=[e.prompt for e in data.train],
        embeddings=data.train_emb,
        labels={
            "cheap": np.array([e.cheap_ok for e in data.train], dtype=np.int64),
            "strong": np.array([e.strong_ok for e in data.train], dtype=np.int64),
        },
        calibration=np.array([calibration_part(e.prompt) for e in data.train]),
        domains=[SUBJECT_DOMAINS.get(e.subject) for e in data.train],
    )


def _predict_all(model: RouterModel, prompts: Sequence[str], emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated p, uncalibrated logits) per prompt and tier, through the serving path."""
    probs = np.zeros((len(prompts), len(model.tiers)))
    logits = np.zeros((len(prompts), len(model.tiers)))
    for i, prompt in enumerate(prompts):
        features = features_of(prompt)
        p = model.predict(features, emb[i])
        z = model.logits(features, emb[i])
        probs[i] = [p[t] for t in model.tiers]
        logits[i] = [z[t] for t in model.tiers]
    return probs, logits


def routing_score(probs: np.ndarray) -> np.ndarray:
    """How much a prompt needs the strong tier: p(strong) - p(cheap), the gain the λ decision weighs."""
    return np.asarray(probs[:, 1] - probs[:, 0], dtype=np.float64)


def score_routellm(models: dict[str, RouterModel], data: RouteLLMData) -> dict[str, Any]:
    """CPT/APGR on the GSM8K and MMLU test halves and MT-Bench for each model, baselines included."""
    sets = {
        "gsm8k": ([e.prompt for e in data.gsm8k_test], data.gsm8k_emb, data.gsm8k_test),
        "mmlu": ([e.prompt for e in data.mmlu_test], data.mmlu_emb, data.mmlu_test),
    }
    report: dict[str, Any] = {}
    for name, (prompts, emb, examples) in sets.items():
        scores = {label: routing_score(_predict_all(m, prompts, emb)[0]) for label, m in models.items()}
        cheap = np.array([e.cheap_ok for e in examples], dtype=np.float64)
        strong = np.array([e.strong_ok for e in examples], dtype=np.float64)
        report[name] = benchmark_report(scores, cheap, strong)
    mt_prompts = [q.turn1 for q in data.mt_bench]
    mt_scores = {label: routing_score(_predict_all(m, mt_prompts, data.mt_emb)[0]) for label, m in models.items()}
    report["mt_bench"] = benchmark_report(
        mt_scores,
        np.array([q.cheap_score for q in data.mt_bench]),
        np.array([q.strong_score for q in data.mt_bench]),
    )
    return report


def calibration_report(model: RouterModel, data: RouteLLMData) -> dict[str, Any]:
    """ECE on the pooled GSM8K + MMLU test halves, per tier and pooled over tiers, before and after scaling."""
    examples = data.gsm8k_test + data.mmlu_test
    emb = np.concatenate([data.gsm8k_emb, data.mmlu_emb])
    probs, logits = _predict_all(model, [e.prompt for e in examples], emb)
    labels = np.stack(
        [np.array([e.cheap_ok for e in examples], float), np.array([e.strong_ok for e in examples], float)], axis=1
    )
    before = apply_temperature(logits, 1.0)
    out: dict[str, Any] = {"n": len(examples), "bins": 15}
    for j, tier in enumerate(model.tiers):
        out[tier] = {
            "ece_before": round(ece(before[:, j], labels[:, j]), 4),
            "ece_after": round(ece(probs[:, j], labels[:, j]), 4),
        }
    out["pooled"] = {
        "ece_before": round(ece(before.ravel(), labels.ravel()), 4),
        "ece_after": round(ece(probs.ravel(), labels.ravel()), 4),
    }
    return out


def _document(fitted_model: dict[str, object], data_hash_: str, version: str, report: dict[str, Any]) -> dict[str, Any]:
    return seal(
        {
            "kind": "linear",
            "version": version,
            "tiers": list(DEFAULT_TIERS),
            "data_hash": data_hash_,
            "embedder": {"name": EMBEDDER_NAME, "variant": embedder_variant()},
            "eval_report": report,
            "model": fitted_model,
        }
    )


def train_router(data: RouteLLMData, config: TrainConfig, version: str = VERSION) -> dict[str, Any]:
    """Fit on the train halves and return the sealed artifact document with its test-half eval report."""
    fitted = fit_linear(routellm_training_set(data), DEFAULT_TIERS, config)
    draft = RouterModel(_document(fitted.model, data.data_hash, version, {}))
    routing = score_routellm({"router": draft}, data)
    report: dict[str, Any] = {
        "split": "test halves: sha256('rcb-v1' + prompt) % 2 == 1; MT-Bench whole (transfer)",
        "train": {"n_fit": fitted.n_fit, "n_calibration": fitted.n_calibration, "temperatures": fitted.temperatures},
        "cpt95": {b: routing[b]["router"]["cpt95"] for b in ("gsm8k", "mmlu", "mt_bench")},
        "apgr": {b: routing[b]["router"]["apgr"] for b in ("gsm8k", "mmlu", "mt_bench")},
        "calibration": calibration_report(draft, data),
    }
    if not all(math.isfinite(float(v)) for v in report["cpt95"].values()):
        raise ValueError("non-finite CPT")
    return _document(fitted.model, data.data_hash, version, report)
