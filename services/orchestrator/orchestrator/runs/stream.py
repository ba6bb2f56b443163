"""`GET /v1/orchestrator/runs/{id}/events`: Server-Sent Events of a run's status until it finishes.

The run's row is read every `ORCH_SSE_POLL_S` (0.2 s) in a short tenant transaction of its own; each time its
status, interrupt or cancel request changed an `event: status` is sent with `StatusEvent` as data (the first one at
once), and the stream ends after the event of a terminal status. While nothing changes a comment line goes out
every `ORCH_SSE_HEARTBEAT_S` so proxies keep the connection. A database that stops answering mid-stream ends it
(the client reconnects; the first event tells it the state then).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from sqlalchemy.exc import SQLAlchemyError

from aiaas.errors import PlatformError
from orchestrator.runs.repository import TERMINAL, RunRow
from orchestrator.runs.schemas import StatusEvent
from orchestrator.runs.service import RunService

__all__ = ["status_events", "status_event"]

log = logging.getLogger(__name__)


def status_event(run: RunRow) -> bytes:
    """One SSE `status` event of the run."""
    data = StatusEvent(
        run_id=run.id,
        status=run.status,  # type: ignore[arg-type]
        interrupt=run.interrupt,
        output=run.output,
        error=run.error,
        cancel_requested=run.cancel_requested,
        updated_at=run.updated_at,
    )
    return b"event: status\ndata: " + orjson.dumps(data.model_dump(mode="json")) + b"\n\n"


def _fingerprint(run: RunRow) -> tuple[Any, ...]:
    return run.status, orjson.dumps(run.interrupt), run.cancel_requested


async def status_events(
    runs: RunService, tenant_id: uuid.UUID, first: RunRow, *, poll_s: float, heartbeat_s: float
) -> AsyncIterator[bytes]:
    """The stream's bytes: a status event now and at every change, heartbeats between, ending at a terminal one."""
    run: RunRow | None = first
    seen: tuple[Any, ...] | None = None
    last_sent = time.monotonic()
    while run is not None:
        if _fingerprint(run) != seen:
            seen = _fingerprint(run)
            yield status_event(run)
            last_sent = time.monotonic()
            if run.status in TERMINAL:
                return
        elif time.monotonic() - last_sent >= heartbeat_s:
            yield b": heartbeat\n\n"
            last_sent = time.monotonic()
        await anyio.sleep(poll_s)
        try:
            run = await runs.read(tenant_id, first.id)
        except (SQLAlchemyError, OSError, PlatformError) as exc:
            log.warning("run event stream ended: the run could not be read", extra={"error": type(exc).__name__})
            return
