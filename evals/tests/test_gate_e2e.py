"""The gate bites, on the real platform (the session's eval stack): the shipped policy passes and its report
validates; the degraded policy is exit 1 naming the failing tasks and falls below the baseline; an unparsable
judge reply and a missing simulator are exit 2. The simulator test stops it, so it runs last and restarts it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.gate.report import strip_volatile, validate_report
from evals.gate.run import GateOptions, run_gate
from evals.loader import GOLDEN_DIR
from evals.runner.runner import RunSettings
from evals.runner.session import JudgeOptions

# Two to three tasks per agent, the critical ones among them, an interrupt resumed and a tenant flag.
TASKS = [
    "faq-refund-timing",
    "faq-payment-methods",
    "faq-customs-duties",
    "faq-eu-delivery-time",
    "lead-new-demo-request",
    "lead-urgent-pricing-score",
    "lead-duplicate-dedupe",
    "order-fulfil-small",
    "order-over-threshold-approved",
    "order-tenant-threshold-flag",
]
FAQ_TASKS = sorted(path.stem for path in (GOLDEN_DIR / "faq").glob("*.yaml"))


def options(stack: Any, tmp: Path, **overrides: Any) -> GateOptions:
    values: dict[str, Any] = {
        "task_ids": list(TASKS),
        "urls": stack.urls,
        "baseline_file": None,
        "reports_dir": tmp / "reports",
        "settings": RunSettings(concurrency=4, label=tmp.name),
        "judge": JudgeOptions(cache_dir=tmp / "judge-cache"),
    }
    values.update(overrides)
    return GateOptions(**values)


@pytest.fixture(scope="module")
def passing(eval_stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gate-pass")
    return tmp, run_gate(options(eval_stack, tmp))


def test_the_shipped_policy_passes_and_the_report_validates(passing):
    tmp, gate = passing
    assert gate.exit_code == 0, gate.markdown
    report = gate.report
    assert report is not None and report["verdict"] == "pass"
    assert report["summary"]["tasks"] == len(TASKS) and report["summary"]["passed"] == len(TASKS)
    assert report["judge"]["status"] == "gating" and report["judge"]["calls"] > 0
    assert {c["id"]: c["status"] for c in report["criteria"]} == {
        "critical_tasks": "pass",
        "all_tasks": "pass",
        "judge_scores": "pass",
        "flaky_tasks": "pass",
        "baseline_delta": "skipped",
        "exact_replay": "skipped",
    }
    assert gate.paths is not None
    written = json.loads(gate.paths[0].read_text())
    validate_report(written)
    assert written == json.loads(json.dumps(report, default=str))
    assert gate.paths[1].read_text() == gate.markdown
    assert gate.markdown.startswith("# Evals gate: PASS (exit 0)")


def test_an_unchanged_rerun_makes_no_judge_call(eval_stack, passing):
    tmp, _ = passing
    again = run_gate(options(eval_stack, tmp, reports_dir=tmp / "again"))
    assert again.exit_code == 0, again.markdown
    assert again.report is not None and again.report["judge"]["calls"] == 0
    judged = [t for t in again.report["tasks"] if t["judge"] is not None]
    assert judged and all(t["judge"]["cached"] for t in judged)


def test_the_degraded_policy_is_a_regression_naming_the_failing_tasks(eval_stack, passing, tmp_path):
    # The degraded model leaves out its citations on half its answers (drawn per request, and a run's seed is
    # random): the FAQ graph then cites every retrieved passage, which each FAQ task refuses. 11 tasks: all 11
    # drawing no mistake has probability 2**-11.
    _, good = passing
    assert good.report is not None
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(strip_volatile(good.report)))
    model = "sim-policy-v1-degraded"
    gate = run_gate(options(eval_stack, tmp_path, model=model, task_ids=FAQ_TASKS, baseline_file=baseline))
    assert gate.exit_code == 1, gate.markdown
    report = gate.report
    assert report is not None and report["verdict"] == "regression" and report["errors"] == []
    failing = report["summary"]["failing"]
    assert failing and set(failing) <= set(FAQ_TASKS)
    failed = {c["id"]: c for c in report["criteria"] if c["status"] == "fail"}
    assert failed["all_tasks"]["tasks"] == failing
    for task in report["tasks"]:
        if task["task_id"] in failing:
            cited_all = [f for f in task["failures"] if f["path"] == "$.output.reply.answer"]
            assert [f["expected"] for f in cited_all] == ["not containing '[1][2][3][4]'"]
            assert f"`{task['task_id']}` assert[{cited_all[0]['index']}] not_contains" in gate.markdown
    shared = [name for name in FAQ_TASKS if name in TASKS]
    assert report["criteria"][4]["id"] == "baseline_delta" and report["criteria"][4]["detail"]["n"] == len(shared)
    assert model in gate.markdown


def test_an_unparsable_judge_reply_is_an_error(eval_stack, tmp_path):
    # gpt-4o-mini is the simulator's filler text: no criteria JSON for the judge's parser.
    judge = JudgeOptions(model="gpt-4o-mini", cache_dir=tmp_path / "judge-cache")
    gate = run_gate(options(eval_stack, tmp_path, task_ids=["faq-refund-timing"], judge=judge))
    assert gate.exit_code == 2, gate.markdown
    assert gate.report is not None
    assert [e["kind"] for e in gate.report["errors"]] == ["judge_parse"]
    assert gate.report["errors"][0]["task_id"] == "faq-refund-timing"


def test_zz_simulator_down_is_an_error_naming_it(eval_stack, tmp_path):
    eval_stack.stop_process("provider_sim")
    try:
        gate = run_gate(options(eval_stack, tmp_path))
    finally:
        eval_stack.restart_process("provider_sim")
    assert gate.exit_code == 2, gate.markdown
    assert gate.report is not None and gate.report["verdict"] == "error"
    assert gate.report["errors"][0]["kind"] == "unreachable"
    assert "provider simulator unreachable" in gate.report["errors"][0]["message"]
    validate_report(gate.report)
