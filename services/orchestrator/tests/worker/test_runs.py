"""Which requests a worker still executes (`stale_reason`), and which command it gives the engine (`command_for`)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aiaas.events.orchestration import OrchRunRequested
from orchestrator.worker.repository import RunRow
from orchestrator.worker.runs import command_for, stale_reason

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ROW = RunRow(
    id=uuid.uuid4(),
    tenant_id=uuid.uuid4(),
    agent="order",
    agent_version=1,
    versions={},
    model_alias="gpt-4o-mini",
    seed=1,
    input={"order_id": "ORD-1003"},
    flags={},
    status="queued",
    output=None,
    error=None,
    interrupt=None,
    interrupt_expires_at=None,
    resume_value=None,
    cancel_requested=False,
    deliveries=0,
)


@pytest.mark.parametrize("status", ["succeeded", "failed", "compensated", "cancelled", "expired"])
@pytest.mark.parametrize("reason", ["start", "resume", "cancel", "expire"])
def test_nothing_runs_again_once_terminal(status: str, reason: str) -> None:
    assert stale_reason(replace(ROW, status=status), reason, NOW) == f"run already {status}"


def test_a_start_of_a_run_waiting_at_its_interrupt_is_stale() -> None:
    waiting = replace(ROW, status="interrupted", interrupt_expires_at=NOW + timedelta(hours=1))
    assert stale_reason(waiting, "start", NOW) == "start of a run that waits at its interrupt"
    assert stale_reason(waiting, "cancel", NOW) is None  # a cancel of a waiting run runs the saga


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_start_or_resume_of_an_unfinished_run_executes(status: str) -> None:
    assert stale_reason(replace(ROW, status=status), "start", NOW) is None  # a redelivery after a crash
    assert stale_reason(replace(ROW, status=status), "resume", NOW) is None


def test_an_expiry_applies_only_while_the_run_waits_past_its_deadline() -> None:
    due = replace(ROW, status="interrupted", interrupt_expires_at=NOW - timedelta(seconds=1))
    assert stale_reason(due, "expire", NOW) is None
    assert stale_reason(replace(due, status="running"), "expire", NOW) is None  # redelivered mid-expiry
    assert stale_reason(replace(due, interrupt_expires_at=NOW + timedelta(seconds=1)), "expire", NOW) is not None
    resumed = replace(ROW, status="queued", interrupt_expires_at=None)  # the API cleared it on resume
    assert stale_reason(resumed, "expire", NOW) is not None


@pytest.mark.parametrize(
    ("reason", "cancel_requested", "command"),
    [
        ("start", False, "start"),
        ("resume", False, "resume"),
        ("start", True, "cancel"),
        ("resume", True, "cancel"),
        ("expire", True, "expire"),
        ("cancel", False, "cancel"),
    ],
)
def test_a_requested_cancel_wins_over_start_and_resume(reason: str, cancel_requested: bool, command: str) -> None:
    request = OrchRunRequested(run_id=ROW.id, agent="order", reason=reason, sequence=0)  # type: ignore[arg-type]
    assert command_for(replace(ROW, cancel_requested=cancel_requested), request) == command
