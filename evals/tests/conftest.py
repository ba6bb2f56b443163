"""Fixtures of the runner and gate suites: one eval platform (real processes on a throwaway database and a private
NATS, evals.runner.stack) for the session, and a gate run against it with a throwaway reports directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.runner.stack import EvalStack


@pytest.fixture(scope="session")
def eval_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvalStack]:
    stack = EvalStack(run_dir=tmp_path_factory.mktemp("eval-stack"), keep_logs=True)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def judge_cache(tmp_path: Path) -> Path:
    """A judge cache of the test's own: a test that expects judge calls must not be answered from another's."""
    return tmp_path / "judge-cache"
