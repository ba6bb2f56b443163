"""SQL of `orch_runs` (create, read, list, resume, cancel) and the reads of `orch_steps` and `tool_calls`.

Every session is bound to one tenant (RLS): a run of another tenant is simply not found. The worker and the engine
write runs' outcomes, steps and ledger rows in their own repositories.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "RunRow",
    "NewRun",
    "StepRow",
    "ToolCallRow",
    "Inserted",
    "UNFINISHED",
    "TERMINAL",
    "get",
    "by_idempotency_key",
    "insert",
    "lock_holder",
    "listing",
    "request_resume",
    "request_cancel",
    "steps",
    "tool_calls",
    "prune_episodes",
]

UNFINISHED = ("queued", "running", "interrupted", "compensating")
TERMINAL = ("succeeded", "failed", "compensated", "cancelled", "expired")
# The unique index that holds an unfinished run's lock key (0028_orchestrator).
_LOCK_INDEX = "orch_runs_lock"

_COLUMNS = (
    "id, tenant_id, idempotency_key, agent, agent_version, versions, model_alias, seed, input, input_sha256, flags,"
    " status, output, error, interrupt, interrupt_expires_at, resume_value, cancel_requested, lock_key, deliveries,"
    " created_at, updated_at, started_at, finished_at"
)
# Statements over the constant column list (no input reaches the SQL text).
_BY_ID = text(f"select {_COLUMNS} from orch_runs where id = :id")  # noqa: S608  # nosec B608
_BY_ID_FOR_UPDATE = text(f"select {_COLUMNS} from orch_runs where id = :id for update")  # noqa: S608  # nosec B608
_BY_KEY = text(f"select {_COLUMNS} from orch_runs where idempotency_key = :key")  # noqa: S608  # nosec B608
_LISTING = text(
    f"select {_COLUMNS} from orch_runs r"  # noqa: S608  # nosec B608
    " where (cast(:agent as text) is null or r.agent = :agent)"
    " and (cast(:status as text) is null or r.status = :status)"
    " and (cast(:after as uuid) is null"
    " or (r.created_at, r.id) < (select a.created_at, a.id from orch_runs a where a.id = :after))"
    " order by r.created_at desc, r.id desc limit :limit"
)
_STEP_COLUMNS = (
    "id, step_key, node, kind, request, request_sha256, response, status, error_class, attempt, latency_ms,"
    " tokens_in, tokens_out, cost_usd, created_at"
)
_STEPS = text(
    f"select {_STEP_COLUMNS} from orch_steps where run_id = :run order by id"  # noqa: S608  # nosec B608
)
_CALL_COLUMNS = (
    "id, node, seq, tool, args, idem_key, side_effect, status, attempts, result, error_class, error,"
    " will_compensate, compensation, compensation_of, requested_at, completed_at"
)
_CALLS = text(
    f"select {_CALL_COLUMNS} from tool_calls where run_id = :run"  # noqa: S608  # nosec B608
    " order by requested_at, seq, id"
)


@dataclass(frozen=True)
class RunRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    idempotency_key: str
    agent: str
    agent_version: int
    versions: dict[str, Any]
    model_alias: str
    seed: int
    input: dict[str, Any]
    input_sha256: str
    flags: dict[str, Any]
    status: str
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    interrupt: dict[str, Any] | None
    interrupt_expires_at: datetime | None
    resume_value: Any
    cancel_requested: bool
    lock_key: str | None
    deliveries: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class NewRun:
    id: uuid.UUID
    tenant_id: uuid.UUID
    idempotency_key: str
    agent: str
    agent_version: int
    versions: dict[str, Any]
    model_alias: str
    seed: int
    input: dict[str, Any]
    input_sha256: str
    flags: dict[str, Any]
    lock_key: str | None
    created_at: datetime


@dataclass(frozen=True)
class StepRow:
    id: int
    step_key: str
    node: str
    kind: str
    request: Any
    request_sha256: str
    response: Any
    status: str
    error_class: str | None
    attempt: int
    latency_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    created_at: datetime


@dataclass(frozen=True)
class ToolCallRow:
    id: uuid.UUID
    node: str
    seq: int
    tool: str
    args: Any
    idem_key: str
    side_effect: bool
    status: str
    attempts: int
    result: Any
    error_class: str | None
    error: Any
    will_compensate: bool
    compensation: Any
    compensation_of: uuid.UUID | None
    requested_at: datetime
    completed_at: datetime | None


# What `insert` did: the row is new, the tenant already has a run with that key, or an unfinished run holds the lock.
Inserted = Literal["inserted", "duplicate", "locked"]


def _run(mapping: Any) -> RunRow:
    return RunRow(**{key: mapping[key] for key in RunRow.__dataclass_fields__})


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def get(session: AsyncSession, run_id: uuid.UUID, *, for_update: bool = False) -> RunRow | None:
    statement = _BY_ID_FOR_UPDATE if for_update else _BY_ID
    row = (await session.execute(statement, {"id": run_id})).mappings().first()
    return None if row is None else _run(row)


async def by_idempotency_key(session: AsyncSession, key: str) -> RunRow | None:
    row = (await session.execute(_BY_KEY, {"key": key})).mappings().first()
    return None if row is None else _run(row)


def _lock_violation(exc: IntegrityError) -> bool:
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) == _LOCK_INDEX


async def insert(session: AsyncSession, run: NewRun) -> Inserted:
    """Insert the queued run in a savepoint (the transaction goes on after a refusal)."""
    try:
        async with session.begin_nested():
            inserted = (
                await session.execute(
                    text(
                        "insert into orch_runs (id, tenant_id, idempotency_key, agent, agent_version, versions,"
                        " model_alias, seed, input, input_sha256, flags, status, lock_key, created_at, updated_at)"
                        " values (:id, :tid, :key, :agent, :agent_version, cast(:versions as jsonb), :alias, :seed,"
                        " cast(:input as jsonb), :sha, cast(:flags as jsonb), 'queued', :lock, :now, :now)"
                        " on conflict (tenant_id, idempotency_key) do nothing returning id"
                    ),
                    {
                        "id": run.id,
                        "tid": run.tenant_id,
                        "key": run.idempotency_key,
                        "agent": run.agent,
                        "agent_version": run.agent_version,
                        "versions": _json(run.versions),
                        "alias": run.model_alias,
                        "seed": run.seed,
                        "input": _json(run.input),
                        "sha": run.input_sha256,
                        "flags": _json(run.flags),
                        "lock": run.lock_key,
                        "now": run.created_at,
                    },
                )
            ).first()
    except IntegrityError as exc:
        if _lock_violation(exc):
            return "locked"
        raise
    return "inserted" if inserted is not None else "duplicate"


async def lock_holder(session: AsyncSession, lock_key: str) -> uuid.UUID | None:
    """The unfinished run that holds `lock_key`, if any."""
    found: uuid.UUID | None = (
        await session.execute(
            text("select id from orch_runs where lock_key = :lock and status = any(:unfinished) limit 1"),
            {"lock": lock_key, "unfinished": list(UNFINISHED)},
        )
    ).scalar()
    return found


async def listing(
    session: AsyncSession, *, limit: int, after: uuid.UUID | None, agent: str | None, status: str | None
) -> list[RunRow]:
    """The tenant's runs, newest first, `limit` after the run `after` (keyset pagination)."""
    rows = (
        (await session.execute(_LISTING, {"limit": limit, "after": after, "agent": agent, "status": status}))
        .mappings()
        .all()
    )
    return [_run(row) for row in rows]


async def request_resume(session: AsyncSession, run_id: uuid.UUID, value: Any, *, now: datetime) -> None:
    """Queue an interrupted run again with the value its next delivery resumes with (the interrupt is answered)."""
    await session.execute(
        text(
            "update orch_runs set status = 'queued', resume_value = cast(:value as jsonb), interrupt = null,"
            " interrupt_expires_at = null, updated_at = :now where id = :id and status = 'interrupted'"
        ),
        {"id": run_id, "value": _json(value), "now": now},
    )


async def request_cancel(session: AsyncSession, run_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(
        text(
            "update orch_runs set cancel_requested = true, updated_at = :now"
            " where id = :id and status = any(:unfinished)"
        ),
        {"id": run_id, "now": now, "unfinished": list(UNFINISHED)},
    )


async def steps(session: AsyncSession, run_id: uuid.UUID) -> list[StepRow]:
    """The run's episode record, in the order it was written."""
    rows = (await session.execute(_STEPS, {"run": run_id})).mappings().all()
    return [StepRow(**{key: row[key] for key in StepRow.__dataclass_fields__}) for row in rows]


async def tool_calls(session: AsyncSession, run_id: uuid.UUID) -> list[ToolCallRow]:
    """The run's ledger rows, in the order they were requested."""
    rows = (await session.execute(_CALLS, {"run": run_id})).mappings().all()
    return [ToolCallRow(**{key: row[key] for key in ToolCallRow.__dataclass_fields__}) for row in rows]


_PRUNE_EPISODES = text(
    "delete from orch_runs where id = any(:ids) and status = any(:terminal) and finished_at < :cutoff"
)


async def prune_episodes(session: AsyncSession, run_ids: list[uuid.UUID], *, cutoff: datetime) -> int:
    """Retention of episode records: the bound tenant's runs among `run_ids` that finished before `cutoff` are
    deleted, and with them their steps and ledger rows (foreign keys `on delete cascade`: the services may not delete
    an `orch_steps` row themselves, the append-only record goes only with its run). RLS keeps other tenants' runs
    out of reach; an unfinished run is never deleted. The number of runs deleted."""
    params = {"ids": list(run_ids), "terminal": list(TERMINAL), "cutoff": cutoff}
    result = await session.execute(_PRUNE_EPISODES, params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
