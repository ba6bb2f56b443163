"""A real small STRESS run (evals/faults/smoke.yaml: N=30, C=10, one worker SIGKILL, a NATS restart, a poison
message, a toolbox outage, model and tool faults) through the real orchestrator, NATS, Postgres, gateway,
simulator and toolbox, asserting the invariants of acceptance 7 one by one.

Slow by nature: the killed worker's runs come back after the consumer's ack_wait (60 s), and the stack's ten
processes start on a shared machine. The N=200 plan runs under `make test-chaos`.
"""

from __future__ import annotations

import pytest

from evals.loader import EVALS_DIR
from evals.stress.cli import prepare, run_stress

pytestmark = pytest.mark.timeout(1200)


def test_a_small_stress_run_keeps_every_invariant(tmp_path):
    report = run_stress(EVALS_DIR / "faults" / "smoke.yaml", run_dir=tmp_path)
    checks = {check.name: check for check in report.checks}
    assert report.failed == [], report.summary()
    assert set(checks) == {
        "terminal",
        "effects_once",
        "sagas_compensated",
        "tool_events",
        "dlq",
        "breaker",
        "bulkhead",
        "schedule",
    }
    assert checks["terminal"].detail["runs"] >= 30 and checks["terminal"].detail["not_terminal"] == []
    assert checks["terminal"].detail["last_terminal_after_last_fault_s"] <= 120
    assert checks["effects_once"].detail["keys_with_effect"] > 0
    events = checks["tool_events"].detail
    assert events["requested"] == events["terminal"] > 0
    assert checks["dlq"].detail["dead_lettered"] == checks["dlq"].detail["poison_injected"] == 1
    assert checks["breaker"].detail["closed_again"], checks["breaker"].detail
    assert checks["bulkhead"].detail["over_limit"] == {}
    assert report.counts["worker_kill"] == 1 and report.counts["nats_restart"] == 1
    assert report.counts["episode_errors"] == 0
    # The schedule of this run is the one (plan, seed) gives anywhere else.
    assert report.schedule.hash == prepare(EVALS_DIR / "faults" / "smoke.yaml").schedule.hash
    assert checks["schedule"].detail["applied_injection_hash"] == report.schedule.injection_hash()
