"""The pure invariants of a STRESS run can fail: a breaker left open, a bulkhead over its limit, a schedule that
was not what the injector applied."""

from __future__ import annotations

from evals.loader import EVALS_DIR
from evals.stress.checks import breaker_check, bulkhead_check
from evals.stress.cli import prepare
from evals.stress.report import StressReport


def test_the_breaker_must_open_and_close_again_on_a_live_worker():
    closed = {"worker-0#1": [0, 2, 1, 0], "worker-1#1": [0]}
    assert breaker_check(closed, {"worker-0#1", "worker-1#1"}, expected=True).ok
    stuck = {"worker-0#1": [0, 2]}
    result = breaker_check(stuck, {"worker-0#1"}, expected=True)
    assert not result.ok and result.detail["not_closed"] == ["worker-0#1"]
    never = {"worker-0#1": [0]}
    assert not breaker_check(never, {"worker-0#1"}, expected=True).ok
    assert breaker_check(never, {"worker-0#1"}, expected=False).ok
    # Open when its worker was killed: listed, but it proves nothing about closing.
    killed = breaker_check({"worker-0#1": [2], "worker-0#2": [0]}, {"worker-0#2"}, expected=True)
    assert not killed.ok and killed.detail["killed_while_open"] == ["worker-0#1"]


def test_the_bulkhead_check_compares_with_the_manifest_limits():
    ok = bulkhead_check({"payments.charge": 10.0}, {"payments.charge/ok": 5.0})
    assert ok.ok and ok.detail["limits"] == {"payments.charge": 10}
    over = bulkhead_check({"payments.charge": 11.0}, {"payments.charge/bulkhead_full": 2.0})
    assert not over.ok and over.detail["over_limit"] == {"payments.charge": 11.0}
    assert over.detail["tool_calls_by_outcome"] == {"bulkhead_full": 2.0}


def test_the_schedule_check_fails_when_the_applied_faults_differ():
    run = prepare(EVALS_DIR / "faults" / "smoke.yaml")
    report = StressReport(run.plan, run.seed, run.source, run.schedule, run.replanned_hash())
    assert report.schedule_check(run.schedule.injection_hash()).ok
    assert not report.schedule_check("0" * 64).ok
    other = StressReport(run.plan, run.seed, run.source, run.schedule, "f" * 64)
    assert not other.schedule_check(run.schedule.injection_hash()).ok
    assert not report.ok  # no check recorded yet: not a pass
