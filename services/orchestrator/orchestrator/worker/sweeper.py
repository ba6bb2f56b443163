"""Expiry: interrupted runs past `interrupt_expires_at` get `orch.run.requested` reason `expire` (the saga undoes
their effects, the run ends `expired`).

Cross-tenant by design (aiaas.roles: the worker's platform_admin role): one indexed scan of every tenant's waiting
runs (`orch_runs_interrupt_expiry`, partial on status) beats a scan per tenant. It publishes straight to JetStream,
without an outbox: the scan itself is the retry. A run stays `interrupted` until a worker takes the expiry (and
marks it running), so every sweep republishes its request under the same id (sequence = the run's deliveries,
fixed while it waits) and JetStream's duplicate window keeps one; a worker skips an expiry whose run was resumed
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session
from aiaas.events import EventEnvelope, EventPublisher, event_id
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested
from aiaas.events.publisher import NATS_UNAVAILABLE
from orchestrator.worker import repository
from orchestrator.worker.metrics import RUNS_EXPIRED

__all__ = ["ExpirySweeper", "expiry_request"]

log = logging.getLogger(__name__)


def expiry_request(run: repository.ExpiredRun) -> EventEnvelope:
    data = OrchRunRequested(run_id=run.run_id, agent=run.agent, reason="expire", sequence=run.deliveries)
    return EventEnvelope(
        id=event_id(ORCH_RUN_REQUESTED, str(run.run_id), "expire", str(run.deliveries)),
        type=ORCH_RUN_REQUESTED,
        tenant_id=run.tenant_id,
        data=data.model_dump(mode="json"),
    )


class ExpirySweeper:
    def __init__(
        self,
        admin_sessions: async_sessionmaker[AsyncSession],
        publisher: EventPublisher,
        *,
        interval_s: float,
        batch: int,
    ) -> None:
        self._sessions = admin_sessions
        self._publisher = publisher
        self._interval_s = interval_s
        self._batch = batch

    async def sweep_once(self) -> int:
        """Publish an expiry request for each run past its expiry; returns how many were published."""
        async with admin_session(self._sessions) as session:
            runs = await repository.expired_interrupts(session, clock.now(), self._batch)
        for run in runs:
            await self._publisher.publish(expiry_request(run))
        if runs:
            RUNS_EXPIRED.inc(len(runs))
            log.info("expiry requested", extra={"runs": len(runs)})
        return len(runs)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except NATS_UNAVAILABLE as exc:
                log.warning("expiry sweep: NATS unavailable", extra={"error": repr(exc)})
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("expiry sweep: database unavailable", extra={"error": repr(exc)[:300]})
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            except TimeoutError:
                continue
