"""Helpers of the API suite: bodies, and what a worker or the engine would write (a run's status, steps, ledger
rows), written here as platform_admin because those writers are not part of this suite."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import httpx2
import nats
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session

__all__ = [
    "RUNS",
    "create",
    "error",
    "faq_body",
    "insert_step",
    "insert_tool_call",
    "last_request",
    "order_body",
    "outbox_events",
    "set_run",
]

RUNS = "/v1/orchestrator/runs"
_JSONB = {"output", "error", "interrupt", "resume_value"}


def faq_body(question: str = "How long do refunds take?", **extra: Any) -> dict[str, Any]:
    return {"agent": "faq", "input": {"question": question}, "idempotency_key": uuid.uuid4().hex, **extra}


def order_body(order_id: str | None = None, **extra: Any) -> dict[str, Any]:
    order_id = order_id or f"ORD-{uuid.uuid4().hex[:8]}"
    return {"agent": "order", "input": {"order_id": order_id}, "idempotency_key": uuid.uuid4().hex, **extra}


async def create(client: httpx2.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(RUNS, json=body, headers=auth)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def error(response: httpx2.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The platform's error body of `response`, checked for its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()["error"]
    assert {"type", "code", "message"} <= set(body)
    if code is not None:
        assert body["code"] == code, body
    return body


async def set_run(admin_sessions: async_sessionmaker[AsyncSession], run_id: str, **fields: Any) -> None:
    """Set columns of a run as the worker would (status, interrupt, output, deliveries...)."""
    assignments = ", ".join(
        f"{name} = cast(:{name} as jsonb)" if name in _JSONB else f"{name} = :{name}" for name in fields
    )
    params = {name: orjson.dumps(value).decode() if name in _JSONB else value for name, value in fields.items()}
    async with admin_session(admin_sessions) as session:
        await session.execute(
            text(f"update orch_runs set {assignments}, updated_at = :now where id = :id"),
            {**params, "id": uuid.UUID(run_id), "now": clock.now()},
        )


async def insert_step(
    session: AsyncSession, tenant_id: uuid.UUID, run_id: str, step_key: str, *, kind: str = "llm", node: str = "answer"
) -> None:
    request = {"step": step_key}
    await session.execute(
        text(
            "insert into orch_steps (tenant_id, run_id, step_key, node, kind, request, request_sha256, response,"
            " status, attempt, latency_ms, tokens_in, tokens_out, cost_usd, created_at)"
            " values (:tid, :run, :key, :node, :kind, cast(:req as jsonb), :sha, cast(:resp as jsonb), 'ok', 1, 12.5,"
            " 10, 5, 0.0001, :now)"
        ),
        {
            "tid": tenant_id,
            "run": uuid.UUID(run_id),
            "key": step_key,
            "node": node,
            "kind": kind,
            "req": orjson.dumps(request).decode(),
            "sha": hashlib.sha256(orjson.dumps(request)).hexdigest(),
            "resp": orjson.dumps({"ok": True}).decode(),
            "now": clock.now(),
        },
    )


async def insert_tool_call(
    session: AsyncSession, tenant_id: uuid.UUID, run_id: str, *, seq: int, tool: str, at: datetime | None = None
) -> uuid.UUID:
    call_id = uuid.uuid4()
    await session.execute(
        text(
            "insert into tool_calls (id, tenant_id, run_id, node, seq, tool, args, idem_key, side_effect, status,"
            " attempts, result, requested_at, completed_at)"
            " values (:id, :tid, :run, 'node', :seq, :tool, cast(:args as jsonb), :key, true, 'succeeded', 1,"
            " cast(:result as jsonb), :at, :at)"
        ),
        {
            "id": call_id,
            "tid": tenant_id,
            "run": uuid.UUID(run_id),
            "seq": seq,
            "tool": tool,
            "args": orjson.dumps({"seq": seq}).decode(),
            "key": hashlib.sha256(f"{run_id}:{seq}".encode()).hexdigest(),
            "result": orjson.dumps({"ref": f"ref-{seq}"}).decode(),
            "at": at or clock.now(),
        },
    )
    return call_id


async def outbox_events(admin_sessions: async_sessionmaker[AsyncSession], run_id: str) -> list[dict[str, Any]]:
    """The `orch.run.requested` envelopes the outbox holds for the run, oldest first."""
    async with admin_session(admin_sessions) as session:
        rows = (
            await session.execute(
                text(
                    "select payload::text as payload from event_outbox where subject like 'orch.run.requested.%'"
                    " and payload::jsonb -> 'data' ->> 'run_id' = :run order by id"
                ),
                {"run": run_id},
            )
        ).all()
    return [orjson.loads(row.payload) for row in rows]


async def last_request(nats_url: str, tenant_id: uuid.UUID) -> tuple[dict[str, Any], str]:
    """The envelope and Nats-Msg-Id of the last run request of the tenant in the API's ORCH stream."""
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.jetstream().get_last_msg("ORCH", f"orch.run.requested.{tenant_id}")
        assert msg.data is not None
        return orjson.loads(msg.data), (msg.headers or {}).get("Nats-Msg-Id", "")
    finally:
        await nc.close()
