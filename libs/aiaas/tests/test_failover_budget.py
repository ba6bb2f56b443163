"""The failover budget: which deadline/timeout/retry combinations leave the next deployment its turn."""

from __future__ import annotations

import pytest

from aiaas.resilience.failover_budget import FailoverBudget, TimedDeployment

DEFAULTS = FailoverBudget.model_construct()
TWO = [TimedDeployment("a"), TimedDeployment("b")]


def test_the_defaults_leave_room_for_the_next_deployment() -> None:
    assert DEFAULTS.worst_case_s(None) == pytest.approx(2 * 25 + 0.05)
    assert DEFAULTS.problems(TWO) == []


def test_a_deployment_that_can_use_up_the_deadline_is_refused_unless_it_is_last() -> None:
    slow_first = [TimedDeployment("a", timeout_s=28), TimedDeployment("b", timeout_s=600)]
    (problem,) = DEFAULTS.problems(slow_first)
    assert (problem.index, problem.field) == (0, "timeout_s")
    assert "'a'" in problem.message and "56.05 s" in problem.message and "60 s request deadline" in problem.message
    assert DEFAULTS.problems([TimedDeployment("only", timeout_s=600)]) == []
    # The defaults themselves are checked too: 2 x 40 s cannot leave room under 60 s.
    assert FailoverBudget.model_construct(upstream_timeout_s=40).problems(TWO)[0].index == 0


def test_a_first_byte_limit_beyond_the_attempt_timeout_is_refused() -> None:
    (problem,) = DEFAULTS.problems([TimedDeployment("a", timeout_s=5, first_byte_timeout_s=6)])
    assert (problem.index, problem.field) == (0, "first_byte_timeout_s")


def test_an_attempt_keeps_the_room_of_every_later_deployment() -> None:
    assert DEFAULTS.attempt_timeout_s(None, remaining_s=60, deployments_after=1) == 25
    assert DEFAULTS.attempt_timeout_s(None, remaining_s=20, deployments_after=1) == 15
    assert DEFAULTS.attempt_timeout_s(None, remaining_s=20, deployments_after=0) == 20
    assert DEFAULTS.attempt_timeout_s(30, remaining_s=12, deployments_after=3) == -3  # <= 0: skip it
    assert DEFAULTS.first_byte_timeout(None, attempt_timeout_s=4) == 4
    assert DEFAULTS.first_byte_timeout(2, attempt_timeout_s=25) == 2
    assert DEFAULTS.first_byte_timeout(None, attempt_timeout_s=25) == 10
