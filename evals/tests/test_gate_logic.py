"""The gate's decisions on fixed inputs: bootstrap, flaky tasks, thresholds, verdict, report schema, Markdown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evals.gate.config import GateConfig, GateConfigError, load_gate_config
from evals.gate.criteria import decide, evaluate_criteria
from evals.gate.markdown import render_markdown
from evals.gate.report import ReportError, build_report, strip_volatile, validate_report
from evals.gate.stats import is_flaky, paired_bootstrap, percentile, task_score

CONFIG = GateConfig()
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
GATING = {"status": "gating", "calibration": {"agreement": 0.9, "kappa": 0.8, "advisory": False, "n": 55}}


def result(
    task_id: str,
    *,
    passed: bool = True,
    critical: bool = False,
    score: float | None = 1.0,
    epochs: list[float] | None = None,
    agent: str = "order",
    error: str | None = None,
) -> dict[str, Any]:
    failures = [] if passed else [
        {"task_id": task_id, "index": 0, "type": "jsonpath", "path": "$.status", "expected": "succeeded",
         "actual": "failed", "message": ""}
    ]  # fmt: skip
    judge = None if score is None else {
        "rubric": "order-fulfilled@v1", "min_score": 0.75, "score": score,
        "epoch_scores": epochs if epochs is not None else [score] * 3, "criteria": [], "calls": 3, "cached": False,
    }  # fmt: skip
    return {
        "task_id": task_id, "agent": agent, "critical": critical, "run_id": "r", "status": "succeeded",
        "passed": passed and error is None, "assertions": 4, "assertion_pass_rate": 1.0 if passed else 0.75,
        "failures": failures, "error": error, "error_kind": "platform" if error else None, "judge": judge,
        "latency_ms": 12.0, "llm_calls": 1, "tool_calls": 2, "tokens": 30,
    }  # fmt: skip


def by_id(criteria: list[Any]) -> dict[str, Any]:
    return {criterion.id: criterion for criterion in criteria}


# --- statistics ----------------------------------------------------------------------------------------------------
def test_percentile_interpolates_between_ranks():
    assert percentile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5
    assert percentile([5.0], 0.025) == 5.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_bootstrap_of_identical_runs_is_exactly_zero():
    scores = {f"t{i}": i / 10 for i in range(10)}
    result_ = paired_bootstrap(scores, dict(scores), resamples=500, seed=3)
    assert (result_.mean_delta, result_.lower, result_.upper, result_.n) == (0.0, 0.0, 0.0, 10)


def test_bootstrap_is_seeded_and_pairs_only_shared_tasks():
    candidate = {"a": 1.0, "b": 0.5, "c": 1.0, "d": 0.0, "only-new": 0.0}
    baseline = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0, "only-old": 1.0}
    first = paired_bootstrap(candidate, baseline, resamples=1000, seed=7)
    assert first == paired_bootstrap(candidate, baseline, resamples=1000, seed=7)
    assert first.n == 4 and first.mean_delta == pytest.approx(-0.375)
    assert first.lower < -0.05 < first.upper <= 0.0
    with pytest.raises(ValueError, match="no task"):
        paired_bootstrap({"x": 1.0}, {"y": 1.0})


def test_flaky_means_epochs_on_both_sides_of_the_threshold():
    assert is_flaky([0.8, 0.7, 0.8], 0.75)
    assert not is_flaky([0.8, 0.9, 0.75], 0.75)
    assert not is_flaky([0.5, 0.5, 0.6], 0.75)
    assert not is_flaky([], 0.75)


def test_task_score_averages_assertions_and_judge_and_zeroes_errors():
    assert task_score(result("a", passed=False, score=0.5), use_judge=True) == pytest.approx(0.625)
    assert task_score(result("a", passed=False, score=0.5), use_judge=False) == pytest.approx(0.75)
    assert task_score(result("a", error="boom"), use_judge=True) == 0.0


# --- thresholds --------------------------------------------------------------------------------------------------
def test_the_committed_gate_file_holds_the_issue_thresholds():
    config = load_gate_config()
    assert (config.critical_pass_rate, config.pass_rate) == (1.0, 0.95)
    assert (config.judge_mean_min, config.judge_task_min) == (0.80, 0.60)
    assert (config.baseline_min_lower_bound, config.flaky_max_share, config.replay_max_divergences) == (-0.05, 0.10, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\n", "version: 1"),
        ("version: 1\ntasks: {pass_rate: 0.9}\n", "tasks.critical_pass_rate is missing"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_a_bad_gate_file_is_refused_naming_the_problem(tmp_path: Path, text: str, message: str):
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    with pytest.raises(GateConfigError, match=message):
        load_gate_config(path)


def test_a_threshold_out_of_range_is_refused(tmp_path: Path):
    text = (Path(__file__).resolve().parents[1] / "gate.yaml").read_text().replace("pass_rate: 0.95", "pass_rate: 1.5")
    (tmp_path / "gate.yaml").write_text(text)
    with pytest.raises(GateConfigError, match=r"tasks.pass_rate = 1.5 is outside"):
        load_gate_config(tmp_path / "gate.yaml")


# --- criteria and verdict ------------------------------------------------------------------------------------------
def test_one_failing_critical_task_fails_the_gate_even_at_95_percent():
    tasks = [result(f"t{i}") for i in range(39)] + [result("crit", passed=False, critical=True)]
    criteria = by_id(evaluate_criteria(tasks, GATING, None, None, "absent", CONFIG))
    assert criteria["all_tasks"].status == "pass" and criteria["all_tasks"].value == pytest.approx(39 / 40)
    assert criteria["critical_tasks"].status == "fail" and criteria["critical_tasks"].tasks == ["crit"]
    assert decide(list(criteria.values()), []) == ("regression", 1)


def test_pass_rate_below_95_percent_fails_naming_the_tasks():
    tasks = [result(f"t{i}") for i in range(18)] + [result("x", passed=False), result("y", passed=False)]
    criteria = by_id(evaluate_criteria(tasks, GATING, None, None, "absent", CONFIG))
    assert criteria["all_tasks"].status == "fail" and criteria["all_tasks"].tasks == ["x", "y"]


def test_judge_mean_and_task_minimum():
    low = [result("a", score=0.9), result("b", score=0.55), result("c", score=0.95)]
    criteria = by_id(evaluate_criteria(low, GATING, None, None, "absent", CONFIG))
    assert criteria["judge_scores"].status == "fail" and criteria["judge_scores"].tasks == ["b"]
    assert criteria["judge_scores"].value == pytest.approx(0.8)
    fine = [result("a", score=0.8), result("b", score=0.8)]
    assert by_id(evaluate_criteria(fine, GATING, None, None, "", CONFIG))["judge_scores"].status == "pass"


def test_an_uncalibrated_judge_is_advisory_and_an_absent_one_skipped():
    low = [result("a", score=0.3)]
    advisory = {"status": "advisory", "note": "kappa 0.4 < 0.6"}
    criteria = evaluate_criteria(low, advisory, None, None, "", CONFIG)
    assert by_id(criteria)["judge_scores"].status == "advisory"
    assert "ADVISORY" in by_id(criteria)["judge_scores"].note
    assert decide(criteria, []) == ("pass", 0)
    absent = by_id(evaluate_criteria(low, {"status": "unavailable", "note": "no module"}, None, None, "", CONFIG))
    assert absent["judge_scores"].status == "skipped" and absent["judge_scores"].note == "no module"


def test_more_than_ten_percent_flaky_tasks_fail():
    tasks = [result(f"t{i}") for i in range(8)] + [result(f"f{i}", score=0.8, epochs=[0.7, 0.8, 0.9]) for i in range(2)]
    criteria = by_id(evaluate_criteria(tasks, GATING, None, None, "", CONFIG))
    assert criteria["flaky_tasks"].status == "fail" and criteria["flaky_tasks"].tasks == ["f0", "f1"]
    assert criteria["flaky_tasks"].value == pytest.approx(0.2)


def test_baseline_delta_flags_a_drop_and_passes_an_equal_run():
    base_tasks = [result(f"t{i}") for i in range(20)]
    baseline = {"judge": GATING, "tasks": base_tasks}
    same = by_id(evaluate_criteria(base_tasks, GATING, baseline, None, "", CONFIG))["baseline_delta"]
    assert same.status == "pass" and same.value == 0.0 and same.detail["mean_delta"] == 0.0
    worse = [result(f"t{i}", passed=i >= 6, score=0.4 if i < 6 else 1.0) for i in range(20)]
    drop = by_id(evaluate_criteria(worse, GATING, baseline, None, "", CONFIG))["baseline_delta"]
    assert drop.status == "fail" and drop.value < -0.05
    assert drop.tasks == sorted(f"t{i}" for i in range(6))
    assert drop.detail["seed"] == CONFIG.baseline_seed and drop.detail["n"] == 20
    missing = by_id(evaluate_criteria(base_tasks, GATING, None, None, "", CONFIG))["baseline_delta"]
    assert missing.status == "skipped" and "baseline --update" in missing.note


def test_replay_divergences_fail_and_an_absent_replay_is_skipped_with_its_note():
    tasks = [result("a")]
    diverged = by_id(evaluate_criteria(tasks, GATING, None, {"divergences": 1, "episodes": 30}, "", CONFIG))
    assert diverged["exact_replay"].status == "fail" and diverged["exact_replay"].value == 1
    ok = by_id(evaluate_criteria(tasks, GATING, None, {"divergences": 0, "episodes": 30}, "", CONFIG))
    assert ok["exact_replay"].status == "pass"
    absent = by_id(evaluate_criteria(tasks, GATING, None, None, "evals.replay is not installed", CONFIG))
    assert absent["exact_replay"].status == "skipped" and absent["exact_replay"].note == "evals.replay is not installed"


def test_errors_decide_before_failures():
    criteria = evaluate_criteria([result("a", passed=False, critical=True)], GATING, None, None, "", CONFIG)
    assert decide(criteria, [{"kind": "judge_parse", "message": "x"}]) == ("error", 2)


# --- the report --------------------------------------------------------------------------------------------------
def report_of(tasks: list[dict[str, Any]], baseline: dict[str, Any] | None = None, errors=()) -> dict[str, Any]:
    return build_report(
        tasks=tasks, errors=list(errors), judge_status=GATING, baseline=baseline, replay_summary=None,
        replay_note="evals.replay is not installed", config=CONFIG, created_at=NOW, model="sim-policy-v1",
        overrides={"model_alias": "sim-policy-v1"}, duration_s=42.0,
    )  # fmt: skip


def test_a_report_validates_and_carries_deltas_against_its_baseline():
    base = report_of([result("o1"), result("f1", agent="faq")])
    validate_report(base)
    baseline = strip_volatile(base)
    assert baseline["tasks"][0]["run_id"] is None and baseline["duration_s"] == 0.0
    validate_report(baseline)
    now = report_of([result("o1", passed=False), result("f1", agent="faq")], baseline)
    validate_report(now)
    assert now["verdict"] == "regression" and now["exit_code"] == 1
    assert now["agents"]["order"]["delta"]["pass_rate"] == -1.0
    assert now["tasks"][0]["baseline"] == {"passed": True, "score_delta": pytest.approx(-0.125)}


def test_a_report_that_breaks_the_schema_is_refused():
    report = report_of([result("o1")])
    report["verdict"] = "maybe"
    with pytest.raises(ReportError, match=r"at \$\.verdict"):
        validate_report(report)


def test_markdown_names_failing_task_path_expected_and_actual():
    text = render_markdown(report_of([result("o1", passed=False, critical=True), result("f1", agent="faq")]))
    assert text.startswith("# Evals gate: REGRESSION (exit 1)")
    assert '- `o1` assert[0] jsonpath at `$.status`: expected `"succeeded"`, actual `"failed"`' in text
    assert "| critical_tasks | FAIL |" in text and "tasks: o1" in text
    assert "## faq: 1/1 pass" in text and "## order: 0/1 pass" in text


# --- the replay summary the gate reads ----------------------------------------------------------------------------
def test_a_replay_summary_is_read_and_a_bad_one_refused(tmp_path: Path):
    from evals.gate.run import _replay

    good = tmp_path / "replay.json"
    good.write_text('{"mode": "exact", "episodes": 31, "divergences": 0, "diverged": []}')
    summary, note = _replay(good)
    assert summary is not None and summary["episodes"] == 31 and note == ""
    bad = tmp_path / "bad.json"
    bad.write_text('{"episodes": 31}')
    with pytest.raises(ReportError, match="integer `divergences`"):
        _replay(bad)
    with pytest.raises(ReportError, match="replay summary"):
        _replay(tmp_path / "missing.json")
    assert _replay(None) == (None, "no replay summary given (--replay-summary): EXACT replay not checked")
