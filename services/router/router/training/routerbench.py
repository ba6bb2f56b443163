"""RouterBench subset: per-model heads (11 tiers, cheapest first) and a λ sweep of the decide rule.

Per prompt the router picks argmin over models of expected_cost[m] + λ · (1 − p[m]) (the service's decision
rule), with expected_cost[m] = the model's mean cost per prompt on train. Over a grid of λ it reports accuracy and
cost (real `total_cost` of the chosen answers) relative to GPT-4-only on the test CSVs. The goal figure is the
cheapest λ whose accuracy reaches 95 % of GPT-4's; the sweep also reports the best accuracy reached.
Baselines measured in the same run: GPT-4 + one cheaper model mixed at random (best pair), per-model LR on the
embedding only, and the oracle (true scores in place of p).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from router.model.artifact import seal
from router.model.predictor import RouterModel
from router.training.datasets import RouterBenchRow, calibration_part, load_routerbench
from router.training.embeddings import embed_texts
from router.training.metrics import routerbench_sweep
from router.training.train import TrainConfig, TrainingSet, features_of, fit_linear

__all__ = ["GPT4", "evaluate_routerbench"]

GPT4 = "gpt-4-1106-preview"
LAMBDAS = np.geomspace(1e-6, 1.0, 481)


def _matrix(rows: Sequence[RouterBenchRow], models: Sequence[str], field: str) -> np.ndarray:
    return np.array([[getattr(r, field)[m] for m in models] for r in rows], dtype=np.float64)


def _fit(rows: Sequence[RouterBenchRow], emb: np.ndarray, models: Sequence[str], config: TrainConfig) -> RouterModel:
    scores = _matrix(rows, models, "scores")
    data = TrainingSet(
        prompts=[r.prompt for r in rows],
        embeddings=emb,
        labels={m: (scores[:, j] >= 0.5).astype(np.int64) for j, m in enumerate(models)},
        calibration=np.array([calibration_part(r.prompt) for r in rows]),
    )
    fitted = fit_linear(data, models, config)
    doc = seal(
        {
            "kind": "linear",
            "version": "routerbench",
            "tiers": list(models),
            "data_hash": "",
            "eval_report": {},
            "model": fitted.model,
        }
    )
    return RouterModel(doc)


def _probs(model: RouterModel, rows: Sequence[RouterBenchRow], emb: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows), len(model.tiers)))
    for i, row in enumerate(rows):
        p = model.predict(features_of(row.prompt), emb[i])
        out[i] = [p[t] for t in model.tiers]
    return out


def _summary(accuracy: np.ndarray, cost: np.ndarray, gpt4_acc: float, gpt4_cost: float) -> dict[str, Any]:
    share = cost / gpt4_cost
    ok95 = accuracy >= 0.95 * gpt4_acc - 1e-12
    best = int(np.argmax(accuracy))
    at_or_above = accuracy >= gpt4_acc - 1e-12
    return {
        "cost_share_at_95pct_gpt4_accuracy": round(float(share[ok95].min()), 4) if ok95.any() else None,
        "best_accuracy": round(float(accuracy[best]), 4),
        "cost_share_at_best_accuracy": round(float(share[best]), 4),
        "reaches_gpt4_accuracy": bool(at_or_above.any()),
        "cheapest_share_at_gpt4_accuracy": round(float(share[at_or_above].min()), 4) if at_or_above.any() else None,
    }


def _random_pair(acc: np.ndarray, cost: np.ndarray, models: Sequence[str]) -> dict[str, Any]:
    g = models.index(GPT4)
    target = 0.95 * acc[g]
    best: tuple[float, str] = (1.0, GPT4)
    for j, model in enumerate(models):
        if j == g:
            continue
        if acc[j] >= target:
            share = cost[j] / cost[g]
        elif acc[g] > acc[j]:
            f = (target - acc[j]) / (acc[g] - acc[j])
            share = (f * cost[g] + (1 - f) * cost[j]) / cost[g]
        else:
            continue
        best = min(best, (float(share), model))
    return {"cost_share_at_95pct_gpt4_accuracy": round(best[0], 4), "partner": best[1]}


def evaluate_routerbench(root: Path, cache_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Train per-model heads on the subset's train CSVs, sweep λ on its test CSVs, with baselines."""
    train = load_routerbench(root, "train")
    test = load_routerbench(root, "test")
    all_models = list(train[0].scores)
    train_costs = _matrix(train, all_models, "costs")
    models = [all_models[j] for j in np.argsort(train_costs.mean(axis=0), kind="stable")]  # cheapest first
    expected_cost = _matrix(train, models, "costs").mean(axis=0)
    train_emb = embed_texts([r.prompt for r in train], cache_dir)
    test_emb = embed_texts([r.prompt for r in test], cache_dir)
    scores = _matrix(test, models, "scores")
    costs = _matrix(test, models, "costs")
    g = models.index(GPT4)
    gpt4_acc, gpt4_cost = float(scores[:, g].mean()), float(costs[:, g].sum())
    per_model_acc, per_model_cost = scores.mean(axis=0), costs.sum(axis=0)
    report: dict[str, Any] = {
        "n_train": len(train),
        "n_test": len(test),
        "models_cheapest_first": models,
        "gpt4": {"accuracy": round(gpt4_acc, 4), "cost_usd": round(gpt4_cost, 4)},
        "model_accuracy": {m: round(float(a), 4) for m, a in zip(models, per_model_acc, strict=True)},
        "lambda_grid": {"min": float(LAMBDAS[0]), "max": float(LAMBDAS[-1]), "points": int(LAMBDAS.shape[0])},
        "random_pair": _random_pair(per_model_acc, per_model_cost, models),
    }
    oracle_acc, oracle_cost = routerbench_sweep(scores, np.tile(expected_cost, (len(test), 1)), scores, costs, LAMBDAS)
    report["oracle"] = _summary(oracle_acc, oracle_cost, gpt4_acc, gpt4_cost)
    variants = {
        "router": config,
        "lr_minilm": TrainConfig(
            hash_dim=config.hash_dim, c=config.c, text_weight=0.0, num_weight=0.0, seed=config.seed
        ),
    }
    for label, variant in variants.items():
        model = _fit(train, train_emb, models, variant)
        p = _probs(model, test, test_emb)
        acc, cost = routerbench_sweep(p, np.tile(expected_cost, (len(test), 1)), scores, costs, LAMBDAS)
        report[label] = _summary(acc, cost, gpt4_acc, gpt4_cost)
    return report
