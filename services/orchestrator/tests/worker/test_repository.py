"""A delivery's start (`claim_run`: load + mark running, as `stale_reason` decides) and its outcome with its event
(`persist_outcome(..., event=)`: both or neither), each one statement."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import text

from aiaas import clock
from aiaas.db import tenant_session
from aiaas.events import EventEnvelope, event_id
from aiaas.events.orchestration import ORCH_RUN_COMPLETED
from orchestrator.worker import repository
from orchestrator.worker.runs import stale_reason

from .factories import insert_run

pytestmark = pytest.mark.asyncio

_OUTBOX = text("select subject, payload from event_outbox where event_id = :id")
_RUN = text("select status, output, finished_at from orch_runs where id = :id")


def _completed(tenant_id: uuid.UUID, run_id: uuid.UUID, status: str) -> EventEnvelope:
    return EventEnvelope(
        id=event_id(ORCH_RUN_COMPLETED, str(run_id), status),
        type=ORCH_RUN_COMPLETED,
        tenant_id=tenant_id,
        data={"run_id": str(run_id), "status": status},
    )


async def _persist(sessions, tenant_id, run_id, status: str, event: EventEnvelope) -> bool:
    async with tenant_session(sessions, tenant_id) as session:
        return await repository.persist_outcome(
            session,
            run_id,
            status=status,
            output={"reply": status},
            error=None,
            interrupt=None,
            expires_at=None,
            clear_resume=False,
            now=clock.now(),
            event=event,
        )


async def _outbox(sessions, tenant_id, event: EventEnvelope) -> list[tuple[str, dict]]:
    async with tenant_session(sessions, tenant_id) as session:
        return [(row.subject, row.payload) for row in await session.execute(_OUTBOX, {"id": event.id})]


async def test_the_outcome_and_its_event_are_stored_together(make_tenant, runtime_sessions):
    tenant = await make_tenant()
    run_id = await insert_run(runtime_sessions, tenant.id, status="running")
    event = _completed(tenant.id, run_id, "succeeded")

    assert await _persist(runtime_sessions, tenant.id, run_id, "succeeded", event) is True

    async with tenant_session(runtime_sessions, tenant.id) as session:
        run = (await session.execute(_RUN, {"id": run_id})).one()
    assert run.status == "succeeded" and run.output == {"reply": "succeeded"} and run.finished_at is not None
    assert await _outbox(runtime_sessions, tenant.id, event) == [
        (f"{ORCH_RUN_COMPLETED}.{tenant.id}", orjson.loads(event.to_json()))
    ]


async def test_a_run_finished_already_keeps_its_outcome_and_gets_no_event(make_tenant, runtime_sessions):
    tenant = await make_tenant()
    run_id = await insert_run(runtime_sessions, tenant.id, status="succeeded", finished_at=clock.now())
    event = _completed(tenant.id, run_id, "failed")

    assert await _persist(runtime_sessions, tenant.id, run_id, "failed", event) is False

    async with tenant_session(runtime_sessions, tenant.id) as session:
        assert (await session.execute(_RUN, {"id": run_id})).one().status == "succeeded"
    assert await _outbox(runtime_sessions, tenant.id, event) == []


async def test_an_event_id_in_the_outbox_already_still_stores_the_outcome(make_tenant, runtime_sessions):
    tenant = await make_tenant()
    first = await insert_run(runtime_sessions, tenant.id, status="running")
    second = await insert_run(runtime_sessions, tenant.id, status="running")
    event = _completed(tenant.id, first, "succeeded")
    assert await _persist(runtime_sessions, tenant.id, first, "succeeded", event) is True

    # The same event id again (its row is kept as it was): the update took, so the outcome counts as stored.
    assert await _persist(runtime_sessions, tenant.id, second, "succeeded", event) is True
    async with tenant_session(runtime_sessions, tenant.id) as session:
        assert (await session.execute(_RUN, {"id": second})).one().status == "succeeded"
    assert len(await _outbox(runtime_sessions, tenant.id, event)) == 1


async def test_another_tenant_cannot_store_an_outcome_or_event_for_the_run(make_tenant, runtime_sessions):
    owner, other = await make_tenant(), await make_tenant()
    run_id = await insert_run(runtime_sessions, owner.id, status="running")
    event = _completed(other.id, run_id, "succeeded")

    assert await _persist(runtime_sessions, other.id, run_id, "succeeded", event) is False

    async with tenant_session(runtime_sessions, owner.id) as session:
        assert (await session.execute(_RUN, {"id": run_id})).one().status == "running"
    assert await _outbox(runtime_sessions, other.id, event) == []


_STATUSES = ["queued", "running", "interrupted", "succeeded", "failed", "compensated", "cancelled", "expired"]


@pytest.mark.parametrize("reason", ["start", "resume", "cancel", "expire"])
async def test_claim_marks_exactly_the_runs_stale_reason_lets_execute(make_tenant, runtime_sessions, reason):
    """`claim_run`'s SQL condition and `stale_reason` agree on every status, and on expiry before/after/none."""
    tenant = await make_tenant()
    now = clock.now()
    cases = [(status, None) for status in _STATUSES] + [
        ("interrupted", now - timedelta(seconds=1)),
        ("interrupted", now + timedelta(seconds=60)),
    ]
    for status, expires_at in cases:
        run_id = await insert_run(runtime_sessions, tenant.id, status=status, expires_at=expires_at, deliveries=2)
        async with tenant_session(runtime_sessions, tenant.id) as session:
            claimed = await repository.claim_run(session, run_id, reason, now)
        assert claimed is not None
        row, deliveries = claimed
        assert (row.status, row.deliveries, row.interrupt_expires_at) == (status, 2, expires_at)
        executes = stale_reason(row, reason, now) is None
        assert deliveries == (3 if executes else None), (status, expires_at, reason)
        async with tenant_session(runtime_sessions, tenant.id) as session:
            after = await repository.load_run(session, run_id)
        assert after is not None
        assert (after.status, after.deliveries) == (("running", 3) if executes else (status, 2))


async def test_claim_of_another_tenants_run_finds_nothing_and_changes_nothing(make_tenant, runtime_sessions):
    owner, other = await make_tenant(), await make_tenant()
    run_id = await insert_run(runtime_sessions, owner.id, status="queued")
    async with tenant_session(runtime_sessions, other.id) as session:
        assert await repository.claim_run(session, run_id, "start", clock.now()) is None
    async with tenant_session(runtime_sessions, owner.id) as session:
        row = await repository.load_run(session, run_id)
    assert row is not None and (row.status, row.deliveries) == ("queued", 0)
