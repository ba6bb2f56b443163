"""Request and response bodies of `/v1/orchestrator/runs`."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiaas.storable import StorableStr

__all__ = [
    "AGENT_PATTERN",
    "RunStatus",
    "RunCreate",
    "RunAccepted",
    "RunCreated",
    "RunOut",
    "RunList",
    "StepOut",
    "ToolCallOut",
    "RunHistory",
    "ResumeIn",
    "StatusEvent",
]

AGENT_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
RunStatus = Literal[
    "queued", "running", "interrupted", "compensating", "succeeded", "failed", "compensated", "cancelled", "expired"
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_Body):
    agent: Annotated[str, Field(pattern=AGENT_PATTERN, description="The agent's name (faq, order, lead, ...)")]
    input: dict[str, Any] = Field(description="Checked against the agent manifest's input JSON Schema")
    idempotency_key: Annotated[
        StorableStr,
        Field(
            min_length=1,
            max_length=255,
            description="The same key again returns the same run; with another agent or input it is a 409",
        ),
    ]
    wait: bool | Annotated[float, Field(ge=0)] = Field(
        False,
        description="Seconds to wait for the run to finish or be interrupted (true: ORCH_WAIT_MAX_S, the most);"
        " 200 with the run when it did, else 202",
    )


class RunAccepted(BaseModel):
    run_id: uuid.UUID
    status: RunStatus
    agent: str


class RunCreated(RunAccepted):
    created: bool = Field(description="False when the idempotency key named a run the tenant already had")


class RunOut(BaseModel):
    run_id: uuid.UUID
    agent: str
    agent_version: int
    versions: dict[str, Any] = Field(description="What the run pinned: graph, graph/prompt/tool versions")
    model_alias: str
    seed: int
    status: RunStatus
    idempotency_key: str
    input: dict[str, Any]
    input_sha256: str
    flags: dict[str, Any] = Field(description="The tenant's orchestrator flags when the run was created")
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    interrupt: dict[str, Any] | None = Field(description="What the run asks a human while it is interrupted")
    interrupt_expires_at: datetime | None
    resume_value: Any = None
    cancel_requested: bool
    deliveries: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunOut]
    has_more: bool


class StepOut(BaseModel):
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
    cost_usd: Decimal = Field(description="The step's model cost in US dollars (decimal)")
    created_at: datetime


class ToolCallOut(BaseModel):
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


class RunHistory(BaseModel):
    run_id: uuid.UUID
    status: RunStatus
    steps: list[StepOut] = Field(description="The episode record (orch_steps), in the order it was written")
    tool_calls: list[ToolCallOut] = Field(description="The ledger (tool_calls), in the order they were requested")


class ResumeIn(_Body):
    value: Any = Field(description="What the human answers the interrupt with (e.g. true to approve a refund)")


class StatusEvent(BaseModel):
    """The `data` of an SSE `status` event of `GET /runs/{id}/events`."""

    run_id: uuid.UUID
    status: RunStatus
    interrupt: dict[str, Any] | None
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    cancel_requested: bool
    updated_at: datetime
