"""`/v1/orchestrator/runs`: start a run (202), list, read, its history and its status events; resume, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from aiaas.deps import TenantSessionDep
from orchestrator.runs import service
from orchestrator.runs.repository import RunRow
from orchestrator.runs.schemas import (
    AGENT_PATTERN,
    ResumeIn,
    RunAccepted,
    RunCreate,
    RunCreated,
    RunHistory,
    RunList,
    RunOut,
    RunStatus,
    StepOut,
    ToolCallOut,
)
from orchestrator.runs.stream import status_events
from orchestrator.state import OrchestratorKeyDep, StateDep

__all__ = ["router", "run_out"]

router = APIRouter(prefix="/v1/orchestrator", tags=["orchestrator"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such run (or agent) for this tenant"},
    409: {"description": "The run's state does not allow it, or the idempotency key or order lock is taken"},
}


def run_out(run: RunRow) -> RunOut:
    fields = {name: getattr(run, name) for name in RunOut.model_fields if name != "run_id"}
    return RunOut(run_id=run.id, **fields)


def _accepted(run: RunRow) -> RunAccepted:
    return RunAccepted(run_id=run.id, status=run.status, agent=run.agent)  # type: ignore[arg-type]


@router.post(
    "/runs",
    status_code=202,
    response_model=RunCreated,
    responses={200: {"model": RunOut, "description": "With `wait`: the run finished or was interrupted"}, **_ERRORS},
)
async def create_run(body: RunCreate, principal: OrchestratorKeyDep, state: StateDep) -> Any:
    """Start a run of `agent` on `input` (202); the same idempotency key again answers with the same run.

    404 `agent_not_found`, 422 `invalid_input` (naming the failing location), 409 `idempotency_key_reused` (the key
    was used with another agent or input) or `run_in_progress` (an unfinished run holds the same order). With
    `wait` the answer comes when the run finished or was interrupted (200 with the run), or at the wait's end (202).
    """
    created = await state.runs.create(
        principal.tenant_id, agent=body.agent, input=body.input, idempotency_key=body.idempotency_key
    )
    run = created.run
    seconds = state.settings.wait_max_s if body.wait is True else min(float(body.wait), state.settings.wait_max_s)
    if seconds > 0:
        run = await state.runs.wait(principal.tenant_id, run, seconds)
        if run.status in service.SETTLED:
            return JSONResponse(run_out(run).model_dump(mode="json"), status_code=200)
    return RunCreated(run_id=run.id, status=run.status, agent=run.agent, created=created.created)  # type: ignore[arg-type]


@router.get("/runs")
async def list_runs(
    _: OrchestratorKeyDep,
    session: TenantSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[uuid.UUID | None, Query(description="the last run of the previous page")] = None,
    agent: Annotated[str | None, Query(pattern=AGENT_PATTERN)] = None,
    status: RunStatus | None = None,
) -> RunList:
    """The tenant's runs, newest first (keyset pages: `after` = the previous page's last run)."""
    rows = await service.list_runs(session, limit=limit + 1, after=after, agent=agent, status=status)
    return RunList(data=[run_out(row) for row in rows[:limit]], has_more=len(rows) > limit)


@router.get("/runs/{run_id}", responses=_ERRORS)
async def get_run(run_id: uuid.UUID, _: OrchestratorKeyDep, session: TenantSessionDep) -> RunOut:
    """The run: status, input, output or error, the pending interrupt, what it pinned."""
    return run_out(await service.get_run(session, run_id))


@router.get("/runs/{run_id}/history", responses=_ERRORS)
async def get_history(run_id: uuid.UUID, _: OrchestratorKeyDep, session: TenantSessionDep) -> RunHistory:
    """The run's episode record: its steps (model calls, tool calls, compensations, interrupts) and ledger rows."""
    run, steps, calls = await service.history(session, run_id)
    return RunHistory(
        run_id=run.id,
        status=run.status,  # type: ignore[arg-type]
        steps=[StepOut.model_validate(step, from_attributes=True) for step in steps],
        tool_calls=[ToolCallOut.model_validate(call, from_attributes=True) for call in calls],
    )


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`status` events"}, **_ERRORS},
)
async def run_events(run_id: uuid.UUID, principal: OrchestratorKeyDep, state: StateDep) -> StreamingResponse:
    """Server-Sent Events: a `status` event now and whenever the run's status or interrupt changes, until it
    finishes; `: heartbeat` comments while nothing changes."""
    first = await state.runs.read(principal.tenant_id, run_id)
    if first is None:
        raise service.not_found()
    settings = state.settings
    events = status_events(
        state.runs, principal.tenant_id, first, poll_s=settings.sse_poll_s, heartbeat_s=settings.sse_heartbeat_s
    )
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.post("/runs/{run_id}/resume", status_code=202, responses=_ERRORS)
async def resume_run(run_id: uuid.UUID, body: ResumeIn, principal: OrchestratorKeyDep, state: StateDep) -> RunAccepted:
    """Answer an interrupted run with `value` (e.g. true to approve); it is queued to go on. 409
    `run_not_interrupted` unless it is interrupted."""
    return _accepted(await state.runs.resume(principal.tenant_id, run_id, body.value))


@router.post("/runs/{run_id}/cancel", status_code=202, responses=_ERRORS)
async def cancel_run(run_id: uuid.UUID, principal: OrchestratorKeyDep, state: StateDep) -> RunAccepted:
    """Ask an unfinished run to stop; what it already did is compensated (status `cancelled`). 409 `run_finished`
    when it already finished."""
    return _accepted(await state.runs.cancel(principal.tenant_id, run_id))
