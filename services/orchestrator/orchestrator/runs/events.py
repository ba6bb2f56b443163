"""`orch.run.requested.<tenant>`: the work the orchestrator's workers take (the ORCH work-queue stream, durable
consumer `orchestrator-runs`, declared in aiaas.events.topology).

One event per start, resume, cancel or expiry of a run; its id (the `Nats-Msg-Id`) is uuid5 of the type, the run,
the reason and the sequence, so the outbox relay's copy and the API's direct publish of one request are one
message. `sequence` orders a run's requests: 0 for its start, the run's `deliveries` when resumed or cancelled (it
grows with every delivery the worker takes, so a second resume of one run is a new message). The worker's expiry
sweeper builds its `expire` requests here too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from aiaas.events import EventEnvelope, event_id
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested

__all__ = ["Reason", "run_requested"]

Reason = Literal["start", "resume", "cancel", "expire"]


def run_requested(
    tenant_id: uuid.UUID, run_id: uuid.UUID, agent: str, reason: Reason, sequence: int, *, now: datetime
) -> EventEnvelope:
    """The request for a worker to start, resume, cancel or expire the run."""
    data = OrchRunRequested(run_id=run_id, agent=agent, reason=reason, sequence=sequence)
    return EventEnvelope(
        id=event_id(ORCH_RUN_REQUESTED, str(run_id), reason, str(sequence)),
        type=ORCH_RUN_REQUESTED,
        tenant_id=tenant_id,
        occurred_at=now,
        data=data.model_dump(mode="json"),
    )
