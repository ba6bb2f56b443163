"""The simulator's runtime state, born in lifespan, and per-request behaviour resolution.

Precedence for latency and faults: request headers (`x-sim-ttft-ms`,
`x-sim-token-delay-ms`, `x-sim-fault`, `x-sim-fault-after-tokens`) over
runtime control-API settings over the model's configured profile.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends
from starlette.requests import HTTPConnection

from aiaas.deps import service_state
from provider_sim.config import FaultName, ModelProfile, Settings
from provider_sim.errors import SimError
from provider_sim.faults import FAULT_NAMES, Fault, FaultRegistry
from provider_sim.rulemodels.names import RULE_MODELS
from provider_sim.stats import Stats

__all__ = ["StateDep", "sim_state", "Behaviour", "Latency", "SimState"]

_NO_PROFILE = ModelProfile()


@dataclass(frozen=True, slots=True)
class Latency:
    """Time to first token and delay between tokens, in milliseconds."""

    ttft_ms: float = 0.0
    token_delay_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How to answer one request: delays in seconds and an optional fault."""

    ttft_s: float
    token_delay_s: float
    fault: Fault | None

    @property
    def drop_after(self) -> int | None:
        """Token chunks to send before cutting the connection, or None when not dropping."""
        if self.fault is None or self.fault.kind != "drop_stream":
            return None
        return self.fault.after_tokens


@dataclass(slots=True)
class SimState:
    """Settings, configured profiles, runtime overrides and counters of one simulator."""

    settings: Settings
    profiles: dict[str, ModelProfile]
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    stats: Stats = field(default_factory=Stats)
    latency_overrides: dict[str, Latency] = field(default_factory=dict)
    _fault_draw: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._fault_draw = random.Random(self.settings.fault_rate_seed)

    def profile(self, model: str) -> ModelProfile:
        """The configured profile of `model` (all defaults when unconfigured)."""
        return self.profiles.get(model, _NO_PROFILE)

    def reply_range(self, model: str) -> tuple[int, int]:
        """Min and max reply tokens for `model`."""
        profile = self.profile(model)
        return (
            profile.reply_min_tokens or self.settings.reply_min_tokens,
            profile.reply_max_tokens or self.settings.reply_max_tokens,
        )

    def advertised_models(self) -> list[str]:
        """Default models, the rule models, then configured ones, without duplicates."""
        return list(dict.fromkeys([*self.settings.default_models, *RULE_MODELS, *self.profiles]))

    def reset(self) -> None:
        """Clear runtime faults, latency overrides and counters."""
        self.faults.clear()
        self.latency_overrides.clear()
        self.stats.reset()
        self._fault_draw = random.Random(self.settings.fault_rate_seed)

    def behaviour(self, model: str, headers: Mapping[str, str], text: str | None = None) -> Behaviour:
        """Resolve latency and fault for a request to `model` (last user text `text`); SimError on bad headers."""
        profile = self.profile(model)
        latency = self.latency_overrides.get(model) or self.latency_overrides.get("*")
        ttft_ms = _header_ms(headers, "x-sim-ttft-ms")
        delay_ms = _header_ms(headers, "x-sim-token-delay-ms")
        if ttft_ms is None:
            ttft_ms = latency.ttft_ms if latency else profile.ttft_ms
        if delay_ms is None:
            delay_ms = latency.token_delay_ms if latency else profile.token_delay_ms
        return Behaviour(ttft_ms / 1000, delay_ms / 1000, self._fault(model, profile, headers, text))

    def _fault(self, model: str, profile: ModelProfile, headers: Mapping[str, str], text: str | None) -> Fault | None:
        """Header fault, else a runtime rule, else the profile's standing fault."""
        default_after = profile.after_tokens
        if default_after is None:
            default_after = self.settings.drop_after_tokens
        header_fault = headers.get("x-sim-fault")
        if header_fault:
            if header_fault not in FAULT_NAMES:
                raise SimError(
                    "invalid_request",
                    f"x-sim-fault must be one of {', '.join(FAULT_NAMES)}",
                    param="x-sim-fault",
                )
            after = _header_int(headers, "x-sim-fault-after-tokens")
            return Fault(cast(FaultName, header_fault), default_after if after is None else after)
        runtime = self.faults.take(model, text)
        if runtime is not None:
            return runtime
        if profile.fault is not None and self._fault_draw.random() < profile.fault_rate:
            return Fault(profile.fault, default_after)
        return None


def _header_ms(headers: Mapping[str, str], name: str) -> float | None:
    """A non-negative millisecond value from a header, or None when absent."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3_600_000:
        raise SimError("invalid_request", f"{name} must be milliseconds between 0 and 3600000", param=name)
    return value


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer from a header, or None when absent."""
    raw = headers.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise SimError("invalid_request", f"{name} must be a non-negative integer", param=name)
    return int(raw)


def sim_state(conn: HTTPConnection) -> SimState:
    """The state born in lifespan, for the plain Starlette routes (they take no dependencies)."""
    state = service_state(conn)
    assert isinstance(state, SimState)
    return state


StateDep = Annotated[SimState, Depends(service_state)]
