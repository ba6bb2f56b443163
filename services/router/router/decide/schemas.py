"""POST /v1/router/decide: the request (a chat request's routing inputs) and the decision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiaas.money import refuse_renamed
from router.decide.rules import Reason
from router.policy.schemas import TierName

__all__ = ["EMBEDDING_DIM", "Message", "DecideRequest", "DecideResponse", "RecentDecision", "RecentDecisions"]

EMBEDDING_DIM = 384
_MAX_MESSAGES = 2048


class Message(BaseModel):
    """A chat message in the OpenAI shape (extra keys such as `name` or `tool_calls` are kept, not read)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any] | str] | None = None


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class DecideRequest(BaseModel):
    """The routing inputs of one chat request; `lambda`, `max_cost_usd` and `candidates` narrow the tenant's policy."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _old_money_names(cls, value: object) -> object:
        return refuse_renamed(value, {"max_cost": "max_cost_usd"}, "US dollars")

    messages: list[Message] = Field(min_length=1, max_length=_MAX_MESSAGES)
    tools: list[dict[str, Any]] | None = Field(None, max_length=256)
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1, le=10_000_000)
    candidates: list[TierName] | None = Field(
        None, min_length=1, max_length=16, description="Allowed tiers (each one of the policy's)"
    )
    max_cost_usd: float | None = Field(
        None, ge=0, le=1e6, allow_inf_nan=False, description="Most US dollars the request may be expected to cost"
    )
    lambda_: float | None = Field(
        None, alias="lambda", ge=0, le=1e6, allow_inf_nan=False, description="US dollars a failed answer is worth"
    )
    # Bounded per value by pydantic-core itself: a Python-level pass over the 384 values cost more than the parse.
    embedding: list[Annotated[float, Field(gt=-1e6, lt=1e6, allow_inf_nan=False)]] | None = Field(
        None,
        min_length=EMBEDDING_DIM,
        max_length=EMBEDDING_DIM,
        description="The request's embedding the gateway computed (384 floats); absent: the router embeds",
    )
    conversation_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Keeps a conversation on one router version (canary); default: from its first messages",
    )

    @model_validator(mode="after")
    def _encodable(self) -> DecideRequest:
        parts: list[object] = [message.model_dump() for message in self.messages]
        parts += [self.tools, self.response_format, self.conversation_key]
        if any(_has_lone_surrogate(text) for text in _strings(parts)):
            raise ValueError("text must be valid Unicode (no lone surrogates)")
        return self


class DecideResponse(BaseModel):
    decision_id: uuid.UUID
    tier: str = Field(description="The chosen tier")
    model: str = Field(description="The gateway model alias serving that tier (the tenant's policy)")
    p_success: dict[str, float] = Field(
        description="P(success) per tier the router scored: the calibrated classifier moved by the bandit's "
        "observations; empty for a pinned or fallback decision"
    )
    expected_cost_usd: float = Field(description="Estimated US dollars of the request on the chosen tier")
    reason: Reason
    router_version: str
    canary: bool


class RecentDecision(BaseModel):
    id: uuid.UUID
    created_at: datetime
    router_version: str
    canary: bool
    tier: str
    model: str
    reason: Reason
    allowed: list[str]
    p_success: dict[str, float]
    expected_cost_usd: float = Field(description="Estimated US dollars of the request on the chosen tier")
    latency_ms: float
    context_key: str


class RecentDecisions(BaseModel):
    object: Literal["list"] = "list"
    data: list[RecentDecision]
