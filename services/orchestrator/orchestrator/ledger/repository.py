"""SQL of the write-ahead ledger (`tool_calls`) and the episode record (`orch_steps`).

Every function runs in the caller's tenant transaction (`aiaas.db.tenant_session`): RLS scopes each statement to
the bound tenant, and `tenant_id` is also named so that the unique keys and indexes are used.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "CallRow",
    "StepRow",
    "RunTotals",
    "compensable_calls",
    "compensation_started_at",
    "count_attempts",
    "count_call_steps",
    "find_call",
    "find_step",
    "finish_call",
    "insert_call",
    "insert_step",
    "run_totals",
]

_CALL_COLS = (
    "id, run_id, node, seq, tool, args, idem_key, side_effect, status, attempts, result, error_class, error, "
    "will_compensate, compensation, compensation_of, requested_at, completed_at"
)

_INSERT_CALL = text(
    """
    insert into tool_calls (id, tenant_id, run_id, node, seq, tool, args, idem_key, side_effect, status, attempts,
                            compensation_of, requested_at)
    values (:id, :tenant_id, :run_id, :node, :seq, :tool, cast(:args as jsonb), :idem_key, :side_effect,
            'requested', 0, :compensation_of, :now)
    on conflict (tenant_id, idem_key) do nothing
    returning id
    """
)
_FIND_CALL = text(
    f"select {_CALL_COLS} from tool_calls where tenant_id = :tenant_id and idem_key = :idem_key"  # noqa: S608  # nosec B608
)
_FINISH_CALL = text(
    """
    update tool_calls
       set status = :status, attempts = attempts + :attempts, result = cast(:result as jsonb),
           error_class = :error_class, error = cast(:error as jsonb), will_compensate = :will_compensate,
           compensation = cast(:compensation as jsonb), completed_at = :now
     where tenant_id = :tenant_id and id = :id and status = 'requested'
    returning id
    """
)
_COUNT_ATTEMPTS = text(
    "update tool_calls set attempts = attempts + :attempts "
    "where tenant_id = :tenant_id and id = :id and status = 'requested'"
)
_COMPENSABLE = text(
    f"select {_CALL_COLS} from tool_calls "  # noqa: S608  # nosec B608
    "where tenant_id = :tenant_id and run_id = :run_id and status = 'succeeded' "
    "and compensation is not null and compensation_of is null "
    "order by completed_at desc, requested_at desc, seq desc"
)
_COMP_STARTED = text(
    "select min(requested_at) from tool_calls "
    "where tenant_id = :tenant_id and run_id = :run_id and compensation_of is not null"
)
_COUNT_CALL_STEPS = text(
    "select count(*) from orch_steps where tenant_id = :tenant_id and run_id = :run_id "
    "and (step_key = :base or step_key like :rounds)"
)
_INSERT_STEP = text(
    """
    insert into orch_steps (tenant_id, run_id, step_key, node, kind, request, request_sha256, response, status,
                            error_class, attempt, latency_ms, tokens_in, tokens_out, cost_usd, created_at)
    values (:tenant_id, :run_id, :step_key, :node, :kind, cast(:request as jsonb), :request_sha256,
            cast(:response as jsonb), :status, :error_class, :attempt, :latency_ms, :tokens_in, :tokens_out,
            :cost_usd, :now)
    on conflict (tenant_id, run_id, step_key) do nothing
    """
)
_FIND_STEP = text(
    "select step_key, kind, response, status, error_class, tokens_in, tokens_out, cost_usd, latency_ms "
    "from orch_steps where tenant_id = :tenant_id and run_id = :run_id and step_key = :step_key"
)
_TOTALS = text(
    """
    select (select count(*) from orch_steps
             where tenant_id = :tenant_id and run_id = :run_id and kind = 'llm' and status = 'ok') as llm_calls,
           (select coalesce(sum(tokens_in + tokens_out), 0) from orch_steps
             where tenant_id = :tenant_id and run_id = :run_id and kind = 'llm') as tokens,
           (select count(*) from tool_calls where tenant_id = :tenant_id and run_id = :run_id) as tool_calls
    """
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass(frozen=True)
class CallRow:
    id: uuid.UUID
    run_id: uuid.UUID
    node: str
    seq: int
    tool: str
    args: dict[str, Any]
    idem_key: str
    side_effect: bool
    status: str
    attempts: int
    result: Any
    error_class: str | None
    error: dict[str, Any] | None
    will_compensate: bool
    compensation: dict[str, Any] | None
    compensation_of: uuid.UUID | None
    requested_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class StepRow:
    step_key: str
    kind: str
    response: Any
    status: str
    error_class: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    latency_ms: float | None


@dataclass(frozen=True)
class RunTotals:
    llm_calls: int
    tokens: int
    tool_calls: int


async def insert_call(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    call_id: uuid.UUID,
    run_id: uuid.UUID,
    node: str,
    seq: int,
    tool: str,
    args: dict[str, Any],
    idem_key: str,
    side_effect: bool,
    compensation_of: uuid.UUID | None,
    now: datetime,
) -> bool:
    """A `requested` row; False when the key already has one (nothing written)."""
    row = await session.execute(
        _INSERT_CALL,
        {
            "id": call_id,
            "tenant_id": tenant_id,
            "run_id": run_id,
            "node": node,
            "seq": seq,
            "tool": tool,
            "args": _json(args),
            "idem_key": idem_key,
            "side_effect": side_effect,
            "compensation_of": compensation_of,
            "now": now,
        },
    )
    return row.first() is not None


async def find_call(session: AsyncSession, tenant_id: uuid.UUID, idem_key: str) -> CallRow | None:
    row = (await session.execute(_FIND_CALL, {"tenant_id": tenant_id, "idem_key": idem_key})).mappings().first()
    return None if row is None else CallRow(**row)


async def finish_call(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    call_id: uuid.UUID,
    status: str,
    attempts: int,
    result: Any,
    error_class: str | None,
    error: dict[str, Any] | None,
    will_compensate: bool,
    compensation: dict[str, Any] | None,
    now: datetime,
) -> bool:
    """The outcome of a `requested` row; False when it already had one."""
    row = await session.execute(
        _FINISH_CALL,
        {
            "tenant_id": tenant_id,
            "id": call_id,
            "status": status,
            "attempts": attempts,
            "result": _json(result),
            "error_class": error_class,
            "error": _json(error),
            "will_compensate": will_compensate,
            "compensation": _json(compensation),
            "now": now,
        },
    )
    return row.first() is not None


async def count_attempts(session: AsyncSession, tenant_id: uuid.UUID, call_id: uuid.UUID, attempts: int) -> None:
    """Attempts of a call that stays `requested` (a compensation that will be retried)."""
    await session.execute(_COUNT_ATTEMPTS, {"tenant_id": tenant_id, "id": call_id, "attempts": attempts})


async def compensable_calls(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> list[CallRow]:
    """The run's succeeded calls that recorded a compensation, most recent first (the saga's order)."""
    rows = (await session.execute(_COMPENSABLE, {"tenant_id": tenant_id, "run_id": run_id})).mappings()
    return [CallRow(**row) for row in rows]


async def compensation_started_at(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> datetime | None:
    """When the run's first compensation was requested (the saga's age counts from it), None before any."""
    value = (await session.execute(_COMP_STARTED, {"tenant_id": tenant_id, "run_id": run_id})).scalar_one()
    return value if isinstance(value, datetime) else None


async def insert_step(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    step_key: str,
    node: str,
    kind: str,
    request: dict[str, Any],
    request_sha256: str,
    response: Any,
    status: str,
    error_class: str | None,
    attempt: int,
    latency_ms: float | None,
    tokens_in: int,
    tokens_out: int,
    cost_usd: Decimal,
    now: datetime,
) -> None:
    """Append one step (nothing when the run already has `step_key`: a redelivered step writes one row)."""
    await session.execute(
        _INSERT_STEP,
        {
            "tenant_id": tenant_id,
            "run_id": run_id,
            "step_key": step_key,
            "node": node,
            "kind": kind,
            "request": _json(request),
            "request_sha256": request_sha256,
            "response": _json(response),
            "status": status,
            "error_class": error_class,
            "attempt": attempt,
            "latency_ms": latency_ms,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost_usd,
            "now": now,
        },
    )


async def count_call_steps(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, base: str) -> int:
    """Step rows a call already has: `base` (its first round) and `base@n` (later rounds)."""
    params = {"tenant_id": tenant_id, "run_id": run_id, "base": base, "rounds": _like_escape(base) + "@%"}
    return int((await session.execute(_COUNT_CALL_STEPS, params)).scalar_one())


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def find_step(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, step_key: str) -> StepRow | None:
    params = {"tenant_id": tenant_id, "run_id": run_id, "step_key": step_key}
    row = (await session.execute(_FIND_STEP, params)).mappings().first()
    return None if row is None else StepRow(**row)


async def run_totals(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> RunTotals:
    row = (await session.execute(_TOTALS, {"tenant_id": tenant_id, "run_id": run_id})).mappings().one()
    return RunTotals(llm_calls=int(row["llm_calls"]), tokens=int(row["tokens"]), tool_calls=int(row["tool_calls"]))
