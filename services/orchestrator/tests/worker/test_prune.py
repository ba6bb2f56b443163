"""Retention: checkpoints of runs finished before the cutoff are deleted, per tenant under RLS; others stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from sqlalchemy import text

from aiaas import clock
from aiaas.checkpoints import checkpoint_pool, tenant_saver
from aiaas.db import tenant_session
from orchestrator.worker.prune import prune_episode_records, prune_finished_runs

from .factories import insert_run

pytestmark = pytest.mark.asyncio


async def _checkpoint(pool, tenant_id, run_id) -> None:
    async with tenant_saver(pool, tenant_id, run_id) as (saver, thread_id):
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        await saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})


async def _has_checkpoint(pool, tenant_id, run_id) -> bool:
    async with tenant_saver(pool, tenant_id, run_id, lease=False) as (saver, thread_id):
        return await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}) is not None


async def test_prune_deletes_old_finished_runs_checkpoints_only(
    infra_urls, make_tenant, runtime_sessions, admin_sessions
):
    a, b = await make_tenant(), await make_tenant()
    old, recent = clock.now() - timedelta(days=40), clock.now() - timedelta(days=2)
    old_a = await insert_run(runtime_sessions, a.id, status="succeeded", finished_at=old)
    old_b = await insert_run(runtime_sessions, b.id, status="compensated", finished_at=old)
    recent_a = await insert_run(runtime_sessions, a.id, status="succeeded", finished_at=recent)
    waiting_a = await insert_run(runtime_sessions, a.id, status="interrupted")
    runs = [(a.id, old_a), (b.id, old_b), (a.id, recent_a), (a.id, waiting_a)]

    pool = checkpoint_pool(infra_urls.database_url, max_size=2)
    await pool.open(wait=True)
    try:
        for tenant_id, run_id in runs:
            await _checkpoint(pool, tenant_id, run_id)
        report = await prune_finished_runs(admin_sessions, pool, days=30, batch=1)
        kept = {run_id: await _has_checkpoint(pool, tenant_id, run_id) for tenant_id, run_id in runs}
        again = await prune_finished_runs(admin_sessions, pool, days=30, batch=500)
    finally:
        await pool.close()

    assert kept == {old_a: False, old_b: False, recent_a: True, waiting_a: True}
    # Other tests' old runs may be pruned too (shared database); ours are two of them, and nothing is pruned twice.
    assert report.pruned >= 2 and report.tenants >= 2
    assert again.pruned == 0


async def _run_exists(runtime_sessions, tenant_id, run_id) -> bool:
    async with tenant_session(runtime_sessions, tenant_id) as session:
        found = await session.execute(text("select 1 from orch_runs where id = :id"), {"id": run_id})
        return found.first() is not None


async def test_episode_records_of_old_finished_runs_are_deleted_per_tenant(
    make_tenant, runtime_sessions, admin_sessions
):
    a, b = await make_tenant(), await make_tenant()
    old, recent = clock.now() - timedelta(days=100), clock.now() - timedelta(days=40)
    old_a = await insert_run(runtime_sessions, a.id, status="succeeded", finished_at=old)
    old_b = await insert_run(runtime_sessions, b.id, status="failed", finished_at=old)
    recent_a = await insert_run(runtime_sessions, a.id, status="succeeded", finished_at=recent)
    waiting_b = await insert_run(runtime_sessions, b.id, status="interrupted")
    runs = [(a.id, old_a), (b.id, old_b), (a.id, recent_a), (b.id, waiting_b)]

    report = await prune_episode_records(admin_sessions, runtime_sessions, days=90, batch=1)
    kept = {run_id: await _run_exists(runtime_sessions, tenant_id, run_id) for tenant_id, run_id in runs}
    again = await prune_episode_records(admin_sessions, runtime_sessions, days=90, batch=500)

    assert kept == {old_a: False, old_b: False, recent_a: True, waiting_b: True}
    assert report.pruned >= 2 and report.tenants >= 2  # other tests' old runs may go too (shared database)
    assert again.pruned == 0
