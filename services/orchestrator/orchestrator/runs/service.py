"""Create, wait for, resume and cancel runs; read one, a page of them, a run's history.

Writes run in the service's own tenant transactions (not the request's): the `orch.run.requested` event is written
to the outbox in the transaction that creates (or resumes, or cancels) the run, and published right after the
commit too, so a worker starts within milliseconds; a publish that fails changes nothing (the outbox relay delivers
the same event, same id: JetStream keeps one). Reads take the request's session (aiaas.deps.TenantSessionDep).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.errors import NotFound, PlatformError, ServiceUnavailable
from aiaas.events import EventEnvelope, EventPublisher, write_outbox
from aiaas.events.publisher import NATS_UNAVAILABLE
from aiaas.flags import FlagClient
from orchestrator.agents import flags as agent_flags
from orchestrator.agents.registry import current_manifest
from orchestrator.engine.build_info import build_info
from orchestrator.metrics import RUN_REQUESTS, RUN_REQUESTS_PUBLISHED, RUNS_CREATED
from orchestrator.runs import repository
from orchestrator.runs.events import Reason, run_requested
from orchestrator.runs.inputs import canonical_sha256, check_input, lock_key, storable_value
from orchestrator.runs.repository import NewRun, RunRow, StepRow, ToolCallRow

__all__ = ["Conflict", "Created", "RunService", "get_run", "history", "list_runs", "not_found", "SETTLED"]

log = logging.getLogger(__name__)

# A run a waiting create or an event stream stops at: terminal, or waiting for a human.
SETTLED = (*repository.TERMINAL, "interrupted")


class Conflict(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


@dataclass(frozen=True)
class Created:
    run: RunRow
    # False when the idempotency key named a run the tenant already had.
    created: bool


def not_found() -> NotFound:
    return NotFound("No such run.", code="run_not_found", param="run_id")


@asynccontextmanager
async def _transaction(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
    """One tenant transaction; a database that cannot be reached is a 503 (Retry-After: 1), as for the request's."""
    opened = False
    try:
        async with tenant_session(sessions, tenant_id) as session:
            opened = True
            yield session
    except (OperationalError, InterfaceError, DBAPIError, OSError) as exc:
        down = isinstance(exc, (OperationalError, InterfaceError)) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
        if down or (not opened and isinstance(exc, OSError)):
            raise ServiceUnavailable(
                "The database is unavailable right now; retry.", code="database_unavailable", retry_after=1
            ) from exc
        raise


class RunService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        publisher: EventPublisher | None,
        flags: FlagClient | None,
        clock: Callable[[], datetime],
        poll_s: float = 0.1,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._flags = flags
        self._clock = clock
        self._poll_s = poll_s

    async def create(self, tenant_id: uuid.UUID, *, agent: str, input: dict[str, Any], idempotency_key: str) -> Created:
        """A queued run pinned to the agent's current manifest, or the tenant's run with that idempotency key."""
        sha = canonical_sha256(input)
        async with _transaction(self._sessions, tenant_id) as session:
            existing = await repository.by_idempotency_key(session, idempotency_key)
            if existing is not None:
                return Created(_same_request(existing, agent, sha), created=False)
            manifest = await current_manifest(session, agent)
            if manifest is None:
                raise NotFound("No such agent.", code="agent_not_found", param="agent")
            check_input(manifest, input)
            now = self._clock()
            run = NewRun(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                idempotency_key=idempotency_key,
                agent=agent,
                agent_version=manifest.version,
                versions={**manifest.versions(), **build_info()},
                model_alias=manifest.model_alias,
                seed=secrets.randbits(63),
                input=input,
                input_sha256=sha,
                flags=agent_flags.snapshot(self._flags, tenant_id),
                lock_key=lock_key(manifest, input),
                created_at=now,
            )
            inserted = await repository.insert(session, run)
            if inserted == "duplicate":  # a concurrent create with the same key committed first
                existing = await repository.by_idempotency_key(session, idempotency_key)
                assert existing is not None
                return Created(_same_request(existing, agent, sha), created=False)
            if inserted == "locked":
                assert run.lock_key is not None
                holder = await repository.lock_holder(session, run.lock_key)
                raise Conflict(
                    f"Run {holder} is still working on {run.lock_key}; wait for it to finish or cancel it.",
                    code="run_in_progress",
                    param="input",
                )
            event = run_requested(tenant_id, run.id, agent, "start", 0, now=now)
            await write_outbox(session, event)
            row = await repository.get(session, run.id)
            assert row is not None
        RUNS_CREATED.labels(agent).inc()
        await self._publish(event, "start")
        return Created(row, created=True)

    async def wait(self, tenant_id: uuid.UUID, run: RunRow, seconds: float) -> RunRow:
        """The run once it is terminal or interrupted, or as it is when `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while run.status not in SETTLED and time.monotonic() < deadline:
            await asyncio.sleep(min(self._poll_s, max(deadline - time.monotonic(), 0)))
            found = await self.read(tenant_id, run.id)
            if found is None:
                break
            run = found
        return run

    async def read(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> RunRow | None:
        """The run as it is now, in a short transaction of its own (polling)."""
        async with _transaction(self._sessions, tenant_id) as session:
            return await repository.get(session, run_id)

    async def resume(self, tenant_id: uuid.UUID, run_id: uuid.UUID, value: Any) -> RunRow:
        """Answer an interrupted run: store the value, queue it, request its resume; 409 unless interrupted."""
        storable_value(value, "value")
        async with _transaction(self._sessions, tenant_id) as session:
            run = await repository.get(session, run_id, for_update=True)
            if run is None:
                raise not_found()
            if run.status != "interrupted":
                raise Conflict(
                    f"The run is {run.status}, not interrupted: there is nothing to resume.",
                    code="run_not_interrupted",
                    param="run_id",
                )
            now = self._clock()
            await repository.request_resume(session, run_id, value, now=now)
            event = run_requested(tenant_id, run_id, run.agent, "resume", run.deliveries, now=now)
            await write_outbox(session, event)
            updated = await repository.get(session, run_id)
            assert updated is not None
        RUN_REQUESTS.labels(run.agent, "resume").inc()
        await self._publish(event, "resume")
        return updated

    async def cancel(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> RunRow:
        """Ask an unfinished run to stop (its effects compensated); a queued or interrupted one is sent a cancel
        request, a running one sees the flag between steps. 409 when it already finished."""
        async with _transaction(self._sessions, tenant_id) as session:
            run = await repository.get(session, run_id, for_update=True)
            if run is None:
                raise not_found()
            if run.finished:
                raise Conflict(f"The run already finished ({run.status}).", code="run_finished", param="run_id")
            now = self._clock()
            await repository.request_cancel(session, run_id, now=now)
            event: EventEnvelope | None = None
            if run.status in ("queued", "interrupted"):
                event = run_requested(tenant_id, run_id, run.agent, "cancel", run.deliveries, now=now)
                await write_outbox(session, event)
            updated = await repository.get(session, run_id)
            assert updated is not None
        RUN_REQUESTS.labels(run.agent, "cancel").inc()
        if event is not None:
            await self._publish(event, "cancel")
        return updated

    async def _publish(self, event: EventEnvelope, reason: Reason) -> None:
        if self._publisher is None:
            RUN_REQUESTS_PUBLISHED.labels(reason, "skipped").inc()
            return
        try:
            await self._publisher.publish(event)
        except NATS_UNAVAILABLE as exc:
            RUN_REQUESTS_PUBLISHED.labels(reason, "failed").inc()
            log.warning("run request not published; the outbox relay delivers it", extra={"error": repr(exc)[:200]})
            return
        RUN_REQUESTS_PUBLISHED.labels(reason, "ok").inc()


def _same_request(existing: RunRow, agent: str, sha: str) -> RunRow:
    """The tenant's run with this key when the request is the same one again; 409 when it is another."""
    if existing.agent != agent or existing.input_sha256 != sha:
        raise Conflict(
            "This idempotency key was used for another request (another agent or input).",
            code="idempotency_key_reused",
            param="idempotency_key",
        )
    return existing


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> RunRow:
    run = await repository.get(session, run_id)
    if run is None:
        raise not_found()
    return run


async def list_runs(
    session: AsyncSession, *, limit: int, after: uuid.UUID | None, agent: str | None, status: str | None
) -> list[RunRow]:
    rows: list[RunRow] = await repository.listing(session, limit=limit, after=after, agent=agent, status=status)
    return rows


async def history(session: AsyncSession, run_id: uuid.UUID) -> tuple[RunRow, list[StepRow], list[ToolCallRow]]:
    """The run, its steps and its ledger rows, read in one transaction (one snapshot)."""
    run = await get_run(session, run_id)
    return run, await repository.steps(session, run_id), await repository.tool_calls(session, run_id)
