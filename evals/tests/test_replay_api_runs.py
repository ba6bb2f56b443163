"""Acceptance 5 and 8 on runs made through the API: the orchestrator API and worker on real processes (simulator,
gateway, toolbox, ingestion; a throwaway database, a private NATS), FAQ, Order and Lead runs with an interrupt and
resume, a retry round, a compensation and a clock reading; each run's episode, exported as its tenant under RLS,
replays EXACT with no divergence, no socket and no business row written; another tenant cannot export it."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from evals.episodes.corpus_stack import running_stack
from evals.episodes.export import EpisodeNotFound, export_episodes
from evals.episodes.record_corpus import CorpusApi, run_scenarios
from evals.episodes.scenarios import SCENARIOS
from evals.replay import pytest_plugin
from evals.replay.cli import main
from evals.replay.pytest_plugin import ExactReplayRegistry

exact_replay = pytest_plugin.exact_replay  # the plugin's fixture, for this module without the plugin's hooks

NAMES = ("faq-01", "order-approve", "order-deny", "order-charge-rounds", "order-undeliverable", "lead-buyer")


@dataclass
class ApiRuns:
    database_url: str
    runtime: async_sessionmaker[AsyncSession]
    admin: async_sessionmaker[AsyncSession]
    runs: list[tuple[uuid.UUID, uuid.UUID]]


@pytest.fixture(scope="module")
async def api_runs() -> AsyncIterator[ApiRuns]:
    async with running_stack(Path(tempfile.mkdtemp(prefix="replay-api-"))) as platform:
        scenarios = [scenario for scenario in SCENARIOS if scenario.name in NAMES]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            runs = await run_scenarios(CorpusApi(http, platform.urls), platform.admin, scenarios)
        yield ApiRuns(platform.database_url, platform.runtime, platform.admin, runs)


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, ...]:
    async with admin_session(sessions) as session:
        counts = await session.execute(
            text(
                "select (select count(*) from orch_runs), (select count(*) from orch_steps),"
                " (select count(*) from tool_calls), (select count(*) from event_outbox)"
            )
        )
        return tuple(counts.one())


async def test_every_run_made_through_the_api_replays_exact(
    api_runs: ApiRuns, exact_replay: ExactReplayRegistry
) -> None:
    for tenant_id, run_id in api_runs.runs:
        exact_replay.add(tenant_id, run_id, database_url=api_runs.database_url)
    before = await _rows(api_runs.admin)

    results = await exact_replay.verify()

    assert await _rows(api_runs.admin) == before
    assert len(results) == len(NAMES)
    assert ExactReplayRegistry.failures(results) == []
    assert sum(result.sockets for result in results) == 0
    statuses = sorted(str(result.recorded["status"]) for result in results)
    assert statuses == ["cancelled", "compensated", "succeeded", "succeeded", "succeeded", "succeeded"]
    kinds = {kind for result in results for _, kind, _, _ in result.trajectory}
    assert {"llm", "retrieve", "tool", "interrupt", "resume", "compensation", "clock"} <= kinds
    episodes = [
        episode
        for tenant_id, run_id in api_runs.runs
        for episode in await export_episodes(api_runs.runtime, tenant_id=tenant_id, run_ids=[run_id])
    ]
    assert any("@" in step["step_key"] for episode in episodes for step in episode["steps"])  # a retry round


async def test_another_tenant_cannot_export_the_episode(api_runs: ApiRuns) -> None:
    (tenant_a, run_a), (tenant_b, _) = api_runs.runs[0], api_runs.runs[1]
    assert tenant_a != tenant_b

    [episode] = await export_episodes(api_runs.runtime, tenant_id=tenant_a, run_ids=[run_a])
    assert episode["agent"] == "faq" and episode["status"] == "succeeded"
    with pytest.raises(EpisodeNotFound):
        await export_episodes(api_runs.runtime, tenant_id=tenant_b, run_ids=[run_a])


async def test_the_replay_cli_replays_a_tenants_runs_and_not_anothers(
    api_runs: ApiRuns, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", api_runs.database_url)
    (tenant_a, run_a), (tenant_b, run_b) = api_runs.runs[0], api_runs.runs[1]
    args = ["--mode", "exact", "--episodes"]

    assert await asyncio.to_thread(main, [*args, str(run_a), "--tenant", str(tenant_a)]) == 0
    assert "EXACT replay: 1 episodes" in capsys.readouterr().out
    assert await asyncio.to_thread(main, [*args, f"{run_a},{run_b}", "--tenant", str(tenant_b)]) == 2
    assert f"episode not found: run {run_a}" in capsys.readouterr().err
