"""Typed `data` of the orchestrator's and the knowledge base's events (issue 15); registered in `schemas`.

Subjects are `<type>.<tenant>`; the event id (the `Nats-Msg-Id`) is deterministic from the business key, so a
republished event is dropped by JetStream's duplicate window and consumers dedupe on it.

- `orch.run.requested`: work for the orchestrator's workers (the ORCH work-queue stream, one durable consumer):
  a new run, a resume, a cancel or an expiry. Id: uuid5(type, run, reason, sequence).
- `orch.run.interrupted`, `orch.run.completed`: a run paused for a human, or reached a terminal status.
- `tool.call.requested|succeeded|failed`: the write-ahead ledger's events, each in the same transaction as its
  `tool_calls` row. Every `requested` gets exactly one terminal event. Id: uuid5(type, idem_key).
- `saga.compensation.succeeded|failed`: one compensation of a failed run; `failed` (given up after
  `ORCH_COMP_MAX_AGE`) also goes to the DLQ.
- `kb.document.deleted`: a knowledge-base document and its chunks are gone.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ORCH_RUN_REQUESTED",
    "ORCH_RUN_INTERRUPTED",
    "ORCH_RUN_COMPLETED",
    "TOOL_CALL_REQUESTED",
    "TOOL_CALL_SUCCEEDED",
    "TOOL_CALL_FAILED",
    "SAGA_COMPENSATION_SUCCEEDED",
    "SAGA_COMPENSATION_FAILED",
    "KB_DOCUMENT_DELETED",
    "ErrorClassName",
    "OrchRunRequested",
    "OrchRunInterrupted",
    "OrchRunCompleted",
    "ToolCallRequested",
    "ToolCallSucceeded",
    "ToolCallFailed",
    "SagaCompensation",
    "KbDocumentDeleted",
    "ORCHESTRATION_EVENT_MODELS",
]

ORCH_RUN_REQUESTED = "orch.run.requested"
ORCH_RUN_INTERRUPTED = "orch.run.interrupted"
ORCH_RUN_COMPLETED = "orch.run.completed"
TOOL_CALL_REQUESTED = "tool.call.requested"
TOOL_CALL_SUCCEEDED = "tool.call.succeeded"
TOOL_CALL_FAILED = "tool.call.failed"
SAGA_COMPENSATION_SUCCEEDED = "saga.compensation.succeeded"
SAGA_COMPENSATION_FAILED = "saga.compensation.failed"
KB_DOCUMENT_DELETED = "kb.document.deleted"

ErrorClassName = Literal["retryable", "fatal", "timeout", "circuit_open", "bulkhead_full"]
TerminalStatus = Literal["succeeded", "failed", "compensated", "cancelled", "expired"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrchRunRequested(_Data):
    """A worker should take the run: start it, resume it with its stored value, cancel or expire it."""

    run_id: uuid.UUID
    agent: str = Field(min_length=1)
    reason: Literal["start", "resume", "cancel", "expire"]
    sequence: int = Field(ge=0, description="Orders the requests of one run; part of the event id")


class OrchRunInterrupted(_Data):
    """The run waits for a human (`POST /v1/orchestrator/runs/{id}/resume`) until `expires_at`."""

    run_id: uuid.UUID
    agent: str = Field(min_length=1)
    node: str = Field(min_length=1)
    payload: dict[str, object] = Field(description="What the human is asked (the interrupt's value)")
    expires_at: str = Field(description="ISO 8601 time after which the run expires and is compensated")


class OrchRunCompleted(_Data):
    """The run reached a terminal status."""

    run_id: uuid.UUID
    agent: str = Field(min_length=1)
    status: TerminalStatus
    error_code: str | None = None
    llm_calls: int = Field(ge=0)
    tool_calls: int = Field(ge=0)
    tokens: int = Field(ge=0, description="Input plus output tokens of the run's model calls")


class ToolCallRequested(_Data):
    """Written ahead of a tool call, with its `requested` ledger row."""

    call_id: uuid.UUID
    run_id: uuid.UUID
    node: str = Field(min_length=1)
    seq: int = Field(ge=0)
    tool: str = Field(min_length=1)
    idem_key: str = Field(
        min_length=1, description="sha256(tenant, run, node, seq, tool, canonical args) or comp:<key>"
    )
    side_effect: bool
    compensation_of: uuid.UUID | None = None


class ToolCallSucceeded(_Data):
    """The call's outcome is stored: the backend answered 2xx (or its stored answer was replayed)."""

    call_id: uuid.UUID
    run_id: uuid.UUID
    tool: str = Field(min_length=1)
    idem_key: str = Field(min_length=1)
    attempts: int = Field(ge=0)
    latency_ms: float = Field(ge=0)


class ToolCallFailed(_Data):
    """The call failed for good; `will_compensate` says the saga will undo the run's earlier effects."""

    call_id: uuid.UUID
    run_id: uuid.UUID
    tool: str = Field(min_length=1)
    idem_key: str = Field(min_length=1)
    attempts: int = Field(ge=0)
    error_class: ErrorClassName
    error_code: str | None = None
    will_compensate: bool


class SagaCompensation(_Data):
    """One compensation of a run: `succeeded`, or `failed` after retrying until ORCH_COMP_MAX_AGE."""

    run_id: uuid.UUID
    call_id: uuid.UUID = Field(description="The compensation's own tool call")
    compensates: uuid.UUID = Field(description="The succeeded tool call it undoes")
    tool: str = Field(min_length=1)
    idem_key: str = Field(min_length=1)
    attempts: int = Field(ge=0)
    age_s: float = Field(ge=0, description="Seconds since the saga began compensating")
    error_class: ErrorClassName | None = None
    error_code: str | None = None


class KbDocumentDeleted(_Data):
    """A knowledge-base document, its original and its chunks were deleted in one transaction."""

    document_id: uuid.UUID
    filename: str = Field(min_length=1)
    version: int = Field(ge=1)
    chunks_deleted: int = Field(ge=0)


ORCHESTRATION_EVENT_MODELS: dict[str, type[BaseModel]] = {
    ORCH_RUN_REQUESTED: OrchRunRequested,
    ORCH_RUN_INTERRUPTED: OrchRunInterrupted,
    ORCH_RUN_COMPLETED: OrchRunCompleted,
    TOOL_CALL_REQUESTED: ToolCallRequested,
    TOOL_CALL_SUCCEEDED: ToolCallSucceeded,
    TOOL_CALL_FAILED: ToolCallFailed,
    SAGA_COMPENSATION_SUCCEEDED: SagaCompensation,
    SAGA_COMPENSATION_FAILED: SagaCompensation,
    KB_DOCUMENT_DELETED: KbDocumentDeleted,
}
