"""Retention: the checkpoints of runs finished more than `ORCH_CKPT_RETENTION_DAYS` ago are deleted.

`python -m orchestrator prune [--days N]` (a daily job). Which tenants have such runs is a cross-tenant question
(platform_admin: `orch_runs_finished`); the deletion is not: for each tenant, one checkpoint connection bound to
that tenant finds which of those runs still hold checkpoints (RLS shows it its own only) and runs the saver's
`aprune` on them (aiaas.checkpoints.prune_runs). The runs' rows, steps and ledger stay: they are the episode record,
kept for `ORCH_EPISODE_RETENTION_DAYS` (90), then deleted the same way, per tenant in its own transaction (RLS):
`runs.repository.prune_episodes`, the steps and ledger rows going with their run.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.checkpoints import CheckpointPool, prune_runs, thread_id_for
from aiaas.checkpoints import repository as checkpoint_session
from aiaas.db import admin_session, tenant_session
from orchestrator.runs import repository as runs_repository
from orchestrator.worker import repository
from orchestrator.worker.metrics import RUNS_PRUNED

__all__ = ["PruneReport", "prune_episode_records", "prune_finished_runs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneReport:
    tenants: int
    candidates: int
    pruned: int


async def prune_finished_runs(
    admin_sessions: async_sessionmaker[AsyncSession], pool: CheckpointPool, *, days: int, batch: int
) -> PruneReport:
    cutoff = clock.now() - timedelta(days=days)
    async with admin_session(admin_sessions) as session:
        by_tenant = await repository.prunable_runs(session, cutoff)
    pruned = candidates = 0
    for tenant_id, run_ids in by_tenant.items():
        for start in range(0, len(run_ids), batch):
            chunk = run_ids[start : start + batch]
            candidates += len(chunk)
            holding = await _with_checkpoints(pool, tenant_id, chunk)
            if holding:
                await prune_runs(pool, tenant_id, holding)
                pruned += len(holding)
                RUNS_PRUNED.inc(len(holding))
    report = PruneReport(tenants=len(by_tenant), candidates=candidates, pruned=pruned)
    log.info("checkpoints pruned", extra={"days": days, **report.__dict__})
    return report


async def prune_episode_records(
    admin_sessions: async_sessionmaker[AsyncSession],
    runtime_sessions: async_sessionmaker[AsyncSession],
    *,
    days: int,
    batch: int,
) -> PruneReport:
    """Delete the episode records of runs finished more than `days` ago: which tenants have them is asked as
    platform_admin, each deletion runs in that tenant's own transaction under RLS."""
    cutoff = clock.now() - timedelta(days=days)
    async with admin_session(admin_sessions) as session:
        by_tenant = await repository.prunable_runs(session, cutoff)
    pruned = candidates = 0
    for tenant_id, run_ids in by_tenant.items():
        for start in range(0, len(run_ids), batch):
            chunk = run_ids[start : start + batch]
            candidates += len(chunk)
            async with tenant_session(runtime_sessions, tenant_id) as session:
                pruned += await runs_repository.prune_episodes(session, chunk, cutoff=cutoff)
    report = PruneReport(tenants=len(by_tenant), candidates=candidates, pruned=pruned)
    log.info("episode records pruned", extra={"days": days, **report.__dict__})
    return report


async def _with_checkpoints(pool: CheckpointPool, tenant_id: uuid.UUID, run_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    threads = {thread_id_for(tenant_id, run): run for run in run_ids}
    async with pool.connection() as conn:
        await checkpoint_session.bind_tenant(conn, str(tenant_id))
        try:
            holding = await repository.threads_with_checkpoints(conn, list(threads))
        finally:
            await checkpoint_session.clear_session(conn)
    return [threads[thread] for thread in holding]
