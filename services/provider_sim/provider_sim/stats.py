"""Counters of what the simulator received, so tests can assert on upstream traffic."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

__all__ = ["UNKNOWN_MODEL", "ModelStats", "Stats"]

UNKNOWN_MODEL = "_unknown"


@dataclass(slots=True)
class ModelStats:
    """Requests, outcomes and tokens served for one model."""

    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    streaming_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, object]:
        """JSON view."""
        return {
            "requests": self.requests,
            "streaming_requests": self.streaming_requests,
            "outcomes": dict(self.outcomes),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


class Stats:
    """Per-model and per-endpoint request counters.

    Outcomes: "ok", "unauthorized", "bad_request" and "fault_<kind>" (e.g. "fault_429").
    Requests rejected before their model is known are filed under `UNKNOWN_MODEL`.
    """

    def __init__(self) -> None:
        self._models: defaultdict[str, ModelStats] = defaultdict(ModelStats)
        self._endpoints: Counter[str] = Counter()
        self._total = 0

    def record(
        self,
        endpoint: str,
        model: str | None,
        outcome: str,
        *,
        stream: bool = False,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        """Count one request and its outcome."""
        self._total += 1
        self._endpoints[endpoint] += 1
        entry = self._models[model or UNKNOWN_MODEL]
        entry.requests += 1
        entry.outcomes[outcome] += 1
        entry.streaming_requests += int(stream)
        entry.prompt_tokens += prompt_tokens
        entry.completion_tokens += completion_tokens

    def reset(self) -> None:
        """Forget everything."""
        self._models.clear()
        self._endpoints.clear()
        self._total = 0

    def as_dict(self) -> dict[str, object]:
        """JSON view: totals, per endpoint, per model."""
        return {
            "total_requests": self._total,
            "endpoints": dict(self._endpoints),
            "models": {name: entry.as_dict() for name, entry in self._models.items()},
        }
