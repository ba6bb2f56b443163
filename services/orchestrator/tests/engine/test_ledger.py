"""The write-ahead ledger: stored results, a re-call over a `requested` row, forward recovery, RLS (acceptance 3, 7)."""

from __future__ import annotations

import uuid

import aiohttp
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import tenant_session
from aiaas_testing import TenantWithKey
from aiaas_testing.plugin import MakeTenant
from orchestrator.engine import Engine
from orchestrator.ledger import RunRef, idem_key

from .factories import Hooks, Toolbox, new_run


async def _calls(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, run_id: uuid.UUID) -> list:
    async with tenant_session(sessions, tenant_id) as session:
        rows = await session.execute(
            text("select tool, status, attempts, idem_key, result from tool_calls where run_id = :run order by seq"),
            {"run": run_id},
        )
        return list(rows)


def test_idem_key_is_canonical() -> None:
    tenant, run = uuid.uuid4(), uuid.uuid4()
    a = idem_key(tenant, run, "charge_payment", 0, "payments.charge", {"order_id": "O-1", "amount_minor": 5})
    b = idem_key(tenant, run, "charge_payment", 0, "payments.charge", {"amount_minor": 5, "order_id": "O-1"})
    assert a == b and len(a) == 64
    assert a != idem_key(tenant, run, "charge_payment", 1, "payments.charge", {"order_id": "O-1", "amount_minor": 5})
    assert a != idem_key(tenant, run, "charge_payment", 0, "payments.charge", {"order_id": "O-1", "amount_minor": 6})


async def test_re_executing_a_finished_run_has_no_new_effect(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1002"})
    first = await engine.execute(spec, "start", Hooks())
    assert first.status == "succeeded", first.error
    before = await toolbox.effects()

    again = await engine.execute(spec, "start", Hooks())

    assert again.output == first.output and again.status == "succeeded"
    assert await toolbox.effects() == before  # no execution, no effect, no replay
    # The ledger's stored answers: a call of a recorded step returns its result without calling the toolbox.
    run = RunRef(tenant_id=tenant.id, run_id=spec.run_id, agent="order")
    args = {"order_id": "ORD-1002", "amount_minor": 3600, "currency": "usd", "payment_method": "pm_card_visa"}
    stored = await engine.ledger.call(run, node="charge_payment", seq=0, tool="payments.charge", args=args)
    assert stored.stored and stored.ok and stored.result["id"] == first.output["reply"]["charge_id"]  # type: ignore[index]
    assert await toolbox.effects() == before
    calls = await _calls(runtime_sessions, tenant.id, spec.run_id)
    assert [c.status for c in calls] == ["succeeded"] * 5


async def test_a_requested_row_is_called_again_with_its_key(
    engine: Engine,
    runtime_sessions: async_sessionmaker[AsyncSession],
    tenant: TenantWithKey,
    toolbox: Toolbox,
    http: aiohttp.ClientSession,
    engine_toolbox: str,
) -> None:
    """A crash after the toolbox charged and before the outcome was written: the row is still `requested`."""
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1001"})
    args = {"order_id": "ORD-1001", "amount_minor": 5198, "currency": "usd", "payment_method": "pm_card_visa"}
    key = idem_key(tenant.id, spec.run_id, "charge_payment", 0, "payments.charge", args)
    async with tenant_session(runtime_sessions, tenant.id) as session:
        await session.execute(
            text(
                "insert into tool_calls (id, tenant_id, run_id, node, seq, tool, args, idem_key, side_effect, status,"
                " requested_at) values (:id, :tenant, :run, 'charge_payment', 0, 'payments.charge',"
                " cast(:args as jsonb), :key, true, 'requested', :now)"
            ),
            {
                "id": uuid.uuid4(),
                "tenant": tenant.id,
                "run": spec.run_id,
                "args": orjson.dumps(args).decode(),
                "key": key,
                "now": clock.now(),
            },
        )
    headers = {"X-Toolbox-Tenant": str(tenant.id), "Idempotency-Key": key}
    async with http.post(f"{engine_toolbox}/v1/payments/charges", json=args, headers=headers) as response:
        assert response.status == 201
        charged = await response.json()

    run = RunRef(tenant_id=tenant.id, run_id=spec.run_id, agent="order")
    outcome = await engine.ledger.call(run, node="charge_payment", seq=0, tool="payments.charge", args=args)

    assert outcome.ok and not outcome.stored and outcome.idem_key == key
    assert outcome.result["id"] == charged["id"]
    keys = (await toolbox.effects("payments.charge"))["keys"]
    assert [(k["key"], k["effects"], k["replays"]) for k in keys] == [(key, 1, 1)]
    calls = await _calls(runtime_sessions, tenant.id, spec.run_id)
    assert [(c.status, c.attempts) for c in calls] == [("succeeded", 1)]


async def test_a_left_over_call_numbers_its_steps_after_the_recorded_rounds(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    """An execution died during forward recovery (one failed round recorded): the next one's success is round 2."""
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1001"})
    run = RunRef(tenant_id=tenant.id, run_id=spec.run_id, agent="order")
    args = {"order_id": "ORD-1001"}
    await toolbox.fault(operation="inventory.reserve", status=503, count=3)
    # What a first execution left: its requested row after one failed round of 3 attempts, and that round's step.
    key = idem_key(tenant.id, spec.run_id, "reserve_inventory", 0, "inventory.reserve", args)
    async with tenant_session(runtime_sessions, tenant.id) as session:
        await session.execute(
            text(
                "insert into tool_calls (id, tenant_id, run_id, node, seq, tool, args, idem_key, side_effect, status,"
                " attempts, requested_at) values (:id, :tenant, :run, 'reserve_inventory', 0, 'inventory.reserve',"
                " cast(:args as jsonb), :key, true, 'requested', 3, :now)"
            ),
            {"id": uuid.uuid4(), "tenant": tenant.id, "run": spec.run_id, "args": orjson.dumps(args).decode(),
             "key": key, "now": clock.now()},
        )  # fmt: skip
        await session.execute(
            text(
                "insert into orch_steps (tenant_id, run_id, step_key, node, kind, request, request_sha256, status,"
                " created_at) values (:tenant, :run, 'reserve_inventory#0', 'reserve_inventory', 'tool', '{}', :sha,"
                " 'error', now())"
            ),
            {"tenant": tenant.id, "run": spec.run_id, "sha": "0" * 64},
        )

    outcome = await engine.ledger.call(run, node="reserve_inventory", seq=0, tool="inventory.reserve", args=args)

    assert not outcome.ok and outcome.error_class == "retryable"  # no retry_until here: one round, 3 attempts
    async with tenant_session(runtime_sessions, tenant.id) as session:
        steps = await session.execute(
            text("select step_key, status from orch_steps where run_id = :run order by id"), {"run": spec.run_id}
        )
        assert [tuple(s) for s in steps] == [("reserve_inventory#0", "error"), ("reserve_inventory#0@2", "error")]
    calls = await _calls(runtime_sessions, tenant.id, spec.run_id)
    assert [(c.status, c.attempts) for c in calls] == [("failed", 6)]


async def test_forward_recovery_after_the_pivot(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    """create_shipment fails its adapter's 3 attempts (503), then succeeds with the same key: no compensation."""
    await toolbox.fault(operation="shipments.create", status=503, count=3)
    spec = await new_run(runtime_sessions, tenant.id, "order", {"order_id": "ORD-1001"})
    outcome = await engine.execute(spec, "start", Hooks())
    assert outcome.status == "succeeded", outcome.error
    assert await toolbox.total("shipments.create") == 1 and await toolbox.total("payments.refund") == 0
    calls = await _calls(runtime_sessions, tenant.id, spec.run_id)
    shipment = next(c for c in calls if c.tool == "shipments.create")
    assert shipment.status == "succeeded" and shipment.attempts == 4
    async with tenant_session(runtime_sessions, tenant.id) as session:
        steps = await session.execute(
            text(
                "select step_key, status from orch_steps where run_id = :run and node = 'create_shipment' order by id"
            ),
            {"run": spec.run_id},
        )
        assert [tuple(s) for s in steps] == [("create_shipment#0", "error"), ("create_shipment#0@2", "ok")]


async def test_another_tenants_ledger_is_invisible_and_unwritable(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], make_tenant: MakeTenant
) -> None:
    a, b = await make_tenant(), await make_tenant()
    spec_b = await new_run(runtime_sessions, b.id, "order", {"order_id": "ORD-1001"})
    assert (await engine.execute(spec_b, "start", Hooks())).status == "succeeded"
    assert len(await _calls(runtime_sessions, b.id, spec_b.run_id)) == 5

    async with tenant_session(runtime_sessions, a.id) as session:
        for table in ("tool_calls", "orch_steps"):
            query = text(f"select count(*) from {table} where run_id = :run")
            count = await session.scalar(query, {"run": spec_b.run_id})
            assert count == 0, table
        updated = await session.execute(
            text("update tool_calls set status = 'failed' where run_id = :run returning id"), {"run": spec_b.run_id}
        )
        assert updated.all() == []
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(
                text(
                    "insert into orch_steps (tenant_id, run_id, step_key, node, kind, request, request_sha256, status,"
                    " created_at) values (:tenant, :run, 'x#0', 'x', 'tool', '{}', :sha, 'ok', now())"
                ),
                {"tenant": b.id, "run": spec_b.run_id, "sha": "0" * 64},
            )
    # Bound to B, the rows are there (they were not lost, only hidden).
    assert len(await _calls(runtime_sessions, b.id, spec_b.run_id)) == 5
