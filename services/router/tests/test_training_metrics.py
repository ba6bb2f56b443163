"""Router metrics on small hand-computed cases: curve, CPT, APGR, random and oracle, the λ sweep, goals."""

from __future__ import annotations

import numpy as np
import pytest

from router.training.goals import check_goals
from router.training.metrics import apgr, benchmark_report, cpt, curve, random_baseline, routerbench_sweep

CHEAP = np.array([1.0, 0.0, 0.0, 1.0])
STRONG = np.array([1.0, 1.0, 1.0, 0.0])


def test_curve_routes_highest_scores_first() -> None:
    c = curve(np.array([0.1, 0.9, 0.5, 0.0]), CHEAP, STRONG)
    assert c.shares.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    # 0 strong: 2/4; +prompt 1 (gain 1): 3/4; +prompt 2 (gain 1): 4/4; +prompt 0 (gain 0); +prompt 3 (gain -1)
    assert c.quality.tolist() == [0.5, 0.75, 1.0, 1.0, 0.75]


def test_ties_move_together_except_for_the_oracle() -> None:
    tied = curve(np.array([1.0, 1.0, 0.0, 0.0]), CHEAP, STRONG)
    assert tied.shares.tolist() == [0.0, 0.5, 1.0]
    split = curve(np.array([1.0, 1.0, 0.0, 0.0]), CHEAP, STRONG, split_ties=True)
    assert split.shares.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_cpt_is_the_first_share_reaching_the_target() -> None:
    c = curve(np.array([0.1, 0.9, 0.5, 0.0]), CHEAP, STRONG)
    # strong-only quality 0.75; 95 % of it = 0.7125 -> reached at 25 %
    assert cpt(c, 0.75) == 0.25
    assert cpt(c, 0.75, target=1.3) == 0.5
    assert cpt(c, 0.75, target=2.0) == 1.0


def test_apgr_of_linear_and_perfect_curves() -> None:
    cheap = np.array([0.0, 0.0, 0.0, 0.0])
    strong = np.array([1.0, 1.0, 1.0, 1.0])
    linear = curve(np.array([4.0, 3.0, 2.0, 1.0]), cheap, strong)
    assert apgr(linear, 0.0, 1.0) == pytest.approx(0.5)
    assert random_baseline(0.0, 1.0) == {"cpt95": pytest.approx(0.95), "apgr": 0.5}
    assert random_baseline(0.6486, 0.8551)["cpt95"] == pytest.approx(0.7929, abs=1e-4)


def test_report_has_baselines_and_methods() -> None:
    report = benchmark_report(
        {"good": np.array([0.1, 0.9, 0.5, 0.0]), "bad": np.array([0.9, 0.0, 0.1, 1.0])}, CHEAP, STRONG
    )
    assert report["n"] == 4
    assert report["oracle"] == {"cpt95": 0.25, "apgr": pytest.approx(report["oracle"]["apgr"])}
    assert report["good"]["cpt95"] == 0.25
    assert report["bad"]["cpt95"] > report["good"]["cpt95"]
    assert report["good"]["apgr"] > report["bad"]["apgr"]


def test_routerbench_sweep_picks_by_cost_plus_lambda_error() -> None:
    p = np.array([[0.9, 0.95], [0.2, 0.9]])
    expected_cost = np.array([[0.001, 0.01], [0.001, 0.01]])
    scores = np.array([[1.0, 1.0], [0.0, 1.0]])
    costs = np.array([[0.001, 0.01], [0.001, 0.02]])
    acc, total = routerbench_sweep(p, expected_cost, scores, costs, np.array([0.0, 0.1, 10.0]))
    # λ 0: cheapest everywhere; λ 0.1: second prompt gains 0.07 > 0.009 -> strong; λ 10: strong on both
    assert acc.tolist() == [0.5, 1.0, 1.0]
    assert total.tolist() == pytest.approx([0.002, 0.021, 0.03])


def test_goals_check() -> None:
    report = {
        "routellm": {
            "gsm8k": {"router": {"cpt95": 0.64}},
            "mmlu": {"router": {"cpt95": 0.48}},
            "mt_bench": {"router": {"cpt95": 0.2}},
        },
        "calibration": {"pooled": {"ece_before": 0.03, "ece_after": 0.02}},
        "routerbench": {"router": {"cost_share_at_95pct_gpt4_accuracy": None, "reaches_gpt4_accuracy": True}},
    }
    goals = check_goals(report)
    assert goals["gsm8k_cpt95"]["met"] is True
    assert goals["mmlu_cpt95"]["met"] is False
    assert goals["ece_after"]["met"] is True
    assert goals["ece_after_le_before"]["met"] is True
    assert goals["routerbench_cost_share"]["met"] is False
    assert goals["routerbench_reaches_gpt4_accuracy"]["met"] is True
