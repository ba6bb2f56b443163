"""pytest plugin: every episode a test session ran through the orchestrator replays EXACT (issue 16, acceptance 5).

Tests register each run they create with the `exact_replay` fixture: `exact_replay.add(tenant_id, run_id)`, with
`database_url=` when the run lives elsewhere than `DATABASE_URL` (a throwaway stack's database). Each registered run
is exported as its tenant (app_runtime, RLS) and replayed EXACT:
- inside a test, `await exact_replay.verify()` (do this before a throwaway database is dropped);
- at the end of the session, for whatever is still registered, when the plugin is enabled
  (`pytest_plugins = ["evals.replay.pytest_plugin"]` in the root conftest): a divergence or an episode that cannot
  be replayed is printed and the session fails.
Runs still unfinished (queued, running, compensating) are skipped: their episode is not complete.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from aiaas.db import create_engine, session_factory, tenant_session
from evals.episodes import repository
from evals.episodes.export import read_episodes
from evals.replay.exact import ReplayResult, replay_exact

__all__ = ["ExactReplayRegistry", "exact_replay"]

_KEY = pytest.StashKey["ExactReplayRegistry"]()


@dataclass
class ExactReplayRegistry:
    """Runs to replay, by database."""

    pending: dict[str, list[tuple[uuid.UUID, uuid.UUID]]] = field(default_factory=lambda: defaultdict(list))
    results: list[ReplayResult] = field(default_factory=list)

    def add(self, tenant_id: uuid.UUID, run_id: uuid.UUID, *, database_url: str | None = None) -> None:
        url = database_url or os.environ.get("DATABASE_URL", "")
        self.pending[url].append((tenant_id, run_id))

    async def verify(self) -> list[ReplayResult]:
        """Export and replay every pending run; the results (also kept in `results`); pending is emptied."""
        done: list[ReplayResult] = []
        pending, self.pending = self.pending, defaultdict(list)
        for url, runs in pending.items():
            if not url:
                raise RuntimeError("exact_replay: DATABASE_URL is not set and no database_url was given")
            engine = create_engine(url, pool_size=1, application_name="exact-replay-check")
            sessions = session_factory(engine)
            try:
                for tenant_id, run_id in runs:
                    async with tenant_session(sessions, tenant_id) as session:
                        run = await repository.read_run(session, run_id)
                        if run is None or run["status"] not in repository.EXPORTABLE:
                            continue
                        episodes = await read_episodes(session, [run_id])
                    done += [await replay_exact(episode) for episode in episodes]
            finally:
                await engine.dispose()
        self.results += done
        return done

    @staticmethod
    def failures(results: list[ReplayResult]) -> list[str]:
        return [f"{r.episode_id} ({r.agent}): {r.divergence or r.error}" for r in results if not r.ok]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = ExactReplayRegistry()


@pytest.fixture(scope="session")
def exact_replay(request: pytest.FixtureRequest) -> ExactReplayRegistry:
    """The session's registry of runs to replay EXACT (see the module doc)."""
    stash = request.config.stash
    if _KEY not in stash:  # imported as a fixture without the plugin's hooks
        stash[_KEY] = ExactReplayRegistry()
    return stash[_KEY]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:  # noqa: ARG001
    registry = session.config.stash.get(_KEY, None)
    if registry is None or not registry.pending:
        return
    results = asyncio.run(registry.verify())
    failures = ExactReplayRegistry.failures(results)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = f"EXACT replay of the session's runs: {len(results)} episodes, {len(failures)} diverged"
    if reporter is not None:
        reporter.write_line(line)
        for failure in failures:
            reporter.write_line(f"  {failure}", red=True)
    if failures:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
