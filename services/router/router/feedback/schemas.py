"""Quality feedback from a tenant's app on one router decision."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FeedbackIn", "FeedbackOut"]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: uuid.UUID = Field(description="The `decision_id` the router returned")
    outcome: Literal["success", "failure"]
    score: float | None = Field(None, ge=0, le=1, allow_inf_nan=False, description="Optional quality in [0, 1]")
    signal_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The caller's id of this signal: the same (decision, signal) twice counts once",
    )


class FeedbackOut(BaseModel):
    object: Literal["router.feedback"] = "router.feedback"
    decision_id: uuid.UUID
    signal_id: str
    recorded: bool = Field(description="False when this (decision, signal) was recorded before: nothing changed")
    applied: bool = Field(description="The bandit counted it (false until the decision itself is recorded)")
