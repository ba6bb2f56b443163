"""Episode export under RLS (acceptance 8): a tenant reads its own episodes; another tenant's run is not found,
through the library and through `python -m evals episodes export` (exit 2)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas_testing import InfraUrls
from aiaas_testing.plugin import MakeTenant
from evals.episodes.canonical import dumps_line
from evals.episodes.cli import main
from evals.episodes.export import EpisodeNotFound, export_episodes
from orchestrator.agents.manifest import BUILTIN_MANIFESTS
from orchestrator.ledger import EpisodeRecord, RunRef
from orchestrator.runs import repository as runs

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


async def _order_run(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> uuid.UUID:
    """A run row and two steps written by the episode record's own write path (an interrupt, a clock reading)."""
    manifest = BUILTIN_MANIFESTS["order"]
    run_input = {"order_id": "ORD-1003"}
    run = runs.NewRun(
        id=uuid.uuid4(), tenant_id=tenant_id, idempotency_key=f"export-{uuid.uuid4()}", agent="order",
        agent_version=manifest.version, versions=manifest.versions(), model_alias=manifest.model_alias, seed=11,
        input=run_input, input_sha256=hashlib.sha256(orjson.dumps(run_input)).hexdigest(), flags={}, lock_key=None,
        created_at=AT,
    )  # fmt: skip
    async with tenant_session(sessions, tenant_id) as session:
        await runs.insert(session, run)
    record = EpisodeRecord(sessions, clock=lambda: AT)
    ref = RunRef(tenant_id=tenant_id, run_id=run.id, agent="order")
    await record.record(ref, step_key="approve:interrupt", node="approve", kind="interrupt", request={"amount": 1})
    assert await record.clock_reading(ref, node="approve", step_key="approve:clock#0", read=lambda: AT) == AT
    return run.id


@pytest.fixture
async def two_tenants(
    make_tenant: MakeTenant, runtime_sessions: async_sessionmaker[AsyncSession]
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """(tenant A, tenant B, A's run)."""
    a, b = await make_tenant(), await make_tenant()
    return a.id, b.id, await _order_run(runtime_sessions, a.id)


async def test_a_tenant_exports_its_episode_and_not_anothers(
    runtime_sessions: async_sessionmaker[AsyncSession], two_tenants: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    a, b, run_id = two_tenants

    [episode] = await export_episodes(runtime_sessions, tenant_id=a, run_ids=[run_id])
    assert [(s["step_key"], s["kind"]) for s in episode["steps"]] == [
        ("approve:interrupt", "interrupt"),
        ("approve:clock#0", "clock"),
    ]
    assert episode["steps"][1]["response"] == {"at": AT.isoformat()}
    assert str(run_id) not in dumps_line(episode).decode() and str(a) not in dumps_line(episode).decode()

    with pytest.raises(EpisodeNotFound):
        await export_episodes(runtime_sessions, tenant_id=b, run_ids=[run_id])
    assert await export_episodes(runtime_sessions, tenant_id=b) == []  # B's listing holds none of A's runs


def test_the_export_cli_is_tenant_scoped(
    two_tenants: tuple[uuid.UUID, uuid.UUID, uuid.UUID],
    infra_urls: InfraUrls,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b, run_id = two_tenants
    monkeypatch.setenv("DATABASE_URL", infra_urls.database_url)
    out = tmp_path / "episodes.jsonl"

    assert main(["export", "--tenant", str(a), "--run-id", str(run_id), "--out", str(out)]) == 0
    [line] = out.read_bytes().splitlines()
    assert orjson.loads(line)["input"] == {"order_id": "ORD-1003"}
    assert line == dumps_line(orjson.loads(line))  # canonical: sorted keys, no spaces

    assert main(["export", "--tenant", str(b), "--run-id", str(run_id)]) == 2
    assert f"episode not found: run {run_id}" in capsys.readouterr().err
    assert main(["export", "--tenant", str(a), "--run-id", "not-a-uuid"]) == 2
    assert main(["export", "--bogus"]) == 2
    monkeypatch.delenv("ADMIN_DATABASE_URL", raising=False)
    assert main(["export"]) == 2  # all tenants needs the platform_admin DSN
    assert "ADMIN_DATABASE_URL is not set" in capsys.readouterr().err
