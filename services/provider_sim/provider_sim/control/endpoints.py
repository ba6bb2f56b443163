"""Test-only control API under `/_sim`: inject faults and latency, read counters, reset; plus /health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from provider_sim.config import FaultName
from provider_sim.faults import ANY_MODEL
from provider_sim.state import Latency, StateDep

__all__ = ["control_router"]


control_router = APIRouter()


class FaultRequest(BaseModel):
    """A fault for `model` (`*` = every model), `count` times (null = until cleared)."""

    model: str = Field(ANY_MODEL, min_length=1)
    fault: FaultName
    count: int | None = Field(None, ge=1)
    after_tokens: int | None = Field(None, ge=0, description="drop_stream: chunks sent before the cut")
    when_text_contains: str | None = Field(
        None, min_length=1, max_length=500, description="only requests whose last user message contains this text"
    )


class LatencyRequest(BaseModel):
    """Latency for `model` (`*` = every model without its own override)."""

    model: str = Field(ANY_MODEL, min_length=1)
    ttft_ms: float = Field(0.0, ge=0, le=3_600_000)
    token_delay_ms: float = Field(0.0, ge=0, le=60_000)


@control_router.get("/health")
async def health(state: StateDep) -> dict[str, Any]:
    """Liveness, with the number of advertised models."""
    return {"status": "ok", "models": len(state.advertised_models())}


@control_router.post("/_sim/faults", status_code=status.HTTP_201_CREATED)
async def add_fault(body: FaultRequest, state: StateDep) -> dict[str, Any]:
    """Add a runtime fault rule; rules match in the order they were added."""
    after = body.after_tokens
    if after is None:
        after = state.profile(body.model).after_tokens
    if after is None:
        after = state.settings.drop_after_tokens
    return state.faults.add(body.model, body.fault, body.count, after, body.when_text_contains).as_dict()


@control_router.get("/_sim/faults")
async def list_faults(state: StateDep) -> dict[str, Any]:
    """Active runtime fault rules."""
    return {"faults": [rule.as_dict() for rule in state.faults.rules()]}


@control_router.delete("/_sim/faults")
async def clear_faults(state: StateDep, model: Annotated[str | None, Query()] = None) -> dict[str, int]:
    """Clear every runtime fault rule, or only those registered for `?model=`."""
    return {"cleared": state.faults.clear(model)}


@control_router.post("/_sim/latency")
async def set_latency(body: LatencyRequest, state: StateDep) -> dict[str, Any]:
    """Override latency for a model at runtime (request headers still win)."""
    state.latency_overrides[body.model] = Latency(body.ttft_ms, body.token_delay_ms)
    return body.model_dump()


@control_router.delete("/_sim/latency")
async def clear_latency(state: StateDep, model: Annotated[str | None, Query()] = None) -> dict[str, int]:
    """Remove latency overrides (all, or `?model=`)."""
    if model is None:
        cleared = len(state.latency_overrides)
        state.latency_overrides.clear()
    else:
        cleared = int(state.latency_overrides.pop(model, None) is not None)
    return {"cleared": cleared}


@control_router.get("/_sim/stats")
async def stats(state: StateDep) -> dict[str, Any]:
    """Requests received per model, endpoint and outcome."""
    return state.stats.as_dict()


@control_router.post("/_sim/reset")
async def reset(state: StateDep) -> dict[str, bool]:
    """Clear runtime faults, latency overrides and counters."""
    state.reset()
    return {"reset": True}
