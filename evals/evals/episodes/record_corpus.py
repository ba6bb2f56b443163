"""Records the committed EXACT-replay corpus: `python -m evals.episodes.record_corpus [--out FILE]`.

Runs every scenario (evals.episodes.scenarios) through the orchestrator API on a stack of real processes
(corpus_stack: simulator, gateway, toolbox, ingestion, orchestrator API and worker, a throwaway database, a private
NATS), answers interrupts through the API (resume or cancel), exports each run's episode as its tenant (RLS) in
canonical form, replays each EXACT as a check, and writes the JSON lines (default `evals/episodes/corpus.jsonl`).
Needs the project-local infrastructure's environment (`deploy/local/infra.py env`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas_testing import TenantWithKey
from aiaas_testing.tenants import create_tenant_with_key
from evals.episodes.corpus_stack import running_stack
from evals.episodes.export import export_episodes, write_jsonl
from evals.episodes.scenarios import SCENARIOS, Scenario
from evals.replay.exact import replay_exact

__all__ = ["CorpusApi", "main", "record", "run_scenarios"]

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = ROOT / "evals" / "episodes" / "corpus.jsonl"
HELP_CENTRE = ROOT / "services" / "ingestion" / "tests" / "fixtures" / "help_centre"
SETTLED = frozenset({"interrupted", "succeeded", "failed", "compensated", "cancelled", "expired"})
FINISHED = SETTLED - {"interrupted"}


class CorpusApi:
    """The calls the recorder makes: the help centre into a knowledge base, toolbox set-up, runs and answers."""

    def __init__(self, http: aiohttp.ClientSession, urls: dict[str, str]) -> None:
        self.http = http
        self.urls = urls

    async def _json(self, method: str, url: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        async with self.http.request(method, url, **kwargs) as resp:
            body = await resp.json(content_type=None)
            if resp.status not in expect:
                raise RuntimeError(f"{method} {url}: {resp.status} {body}")
            return body

    async def upload_help_centre(self, tenant: TenantWithKey) -> None:
        for path in sorted(HELP_CENTRE.iterdir()):
            form = aiohttp.FormData()
            form.add_field("file", path.read_bytes(), filename=path.name)
            url = f"{self.urls['ingestion']}/v1/ingestion/documents"
            await self._json("POST", url, (202,), data=form, headers=tenant.auth)

    async def toolbox(self, path: str, body: dict[str, Any]) -> None:
        await self._json("POST", f"{self.urls['toolbox']}{path}", (200, 201), json=body)

    async def run(self, tenant: TenantWithKey, scenario: Scenario) -> uuid.UUID:
        runs = f"{self.urls['orchestrator']}/v1/orchestrator/runs"
        body = {"agent": scenario.agent, "input": scenario.input, "idempotency_key": scenario.name, "wait": 30}
        created = await self._json("POST", runs, (200, 202), json=body, headers=tenant.auth)
        run_id = uuid.UUID(created["run_id"])
        run = await self.settle(tenant, run_id, SETTLED)
        if run["status"] == "interrupted" and (scenario.resumes or scenario.cancel):
            action = "cancel" if scenario.cancel else "resume"
            answer = {} if scenario.cancel else {"json": {"value": scenario.resume}}
            await self._json("POST", f"{runs}/{run_id}/{action}", (202,), headers=tenant.auth, **answer)
            await self.settle(tenant, run_id, FINISHED)
        return run_id

    async def settle(self, tenant: TenantWithKey, run_id: uuid.UUID, until: frozenset[str]) -> dict[str, Any]:
        deadline = time.monotonic() + 90
        url = f"{self.urls['orchestrator']}/v1/orchestrator/runs/{run_id}"
        while True:
            run: dict[str, Any] = await self._json("GET", url, (200,), headers=tenant.auth)
            if run["status"] in until:
                return run
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} still {run['status']}")
            await asyncio.sleep(0.1)


async def run_scenarios(
    api: CorpusApi, admin_sessions: async_sessionmaker[AsyncSession], scenarios: Sequence[Scenario]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Run each scenario through the API (fresh or shared tenants, toolbox set-up first); (tenant, run) each."""
    tenants: dict[str, TenantWithKey] = {}
    runs: list[tuple[uuid.UUID, uuid.UUID]] = []
    for scenario in scenarios:
        tenant = tenants.get(scenario.tenant or "")
        if tenant is None:
            tenant = await create_tenant_with_key(admin_sessions)
            if scenario.tenant:
                tenants[scenario.tenant] = tenant
            if scenario.docs:
                await api.upload_help_centre(tenant)
        if scenario.seed:
            await api.toolbox("/control/seed", {"tenant": str(tenant.id), **scenario.seed})
        for fault in scenario.faults:
            await api.toolbox("/control/faults", {"tenant": str(tenant.id), **fault})
        run_id = await api.run(tenant, scenario)
        runs.append((tenant.id, run_id))
        print(f"recorded {scenario.name}: run {run_id}", file=sys.stderr)
    return runs


async def record(out: Path) -> int:
    async with running_stack(Path(tempfile.mkdtemp(prefix="episode-corpus-"))) as platform:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            runs = await run_scenarios(CorpusApi(http, platform.urls), platform.admin, SCENARIOS)
        episodes = []
        for tenant_id, run_id in runs:
            episodes += await export_episodes(platform.runtime, tenant_id=tenant_id, run_ids=[run_id])
    failures = 0
    for scenario, episode in zip(SCENARIOS, episodes, strict=True):
        episode["scenario"] = scenario.name
        result = await replay_exact(episode)
        status = "ok" if result.ok else f"DIVERGED: {result.divergence}"
        print(f"{scenario.name}: {episode['status']}, {result.steps} steps, replay {status}", file=sys.stderr)
        failures += 0 if result.ok else 1
    write_jsonl(episodes, out)
    print(f"wrote {len(episodes)} episodes to {out}; {failures} did not replay", file=sys.stderr)
    return 0 if failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.episodes.record_corpus", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    return asyncio.run(record(args.out))


if __name__ == "__main__":
    sys.exit(main())
