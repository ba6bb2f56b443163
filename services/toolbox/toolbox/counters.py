"""What the toolbox did, so tests can assert on it: effects per (tenant, operation, key), requests in flight,
answers by outcome; and the same as Prometheus metrics (no tenant label).

An *execution* is a request that ran (not a replay, not refused before running). An *effect* is an execution
that changed the tenant's data (a charge made, a reservation released, ...); a no-op (releasing a released
reservation) or a business error (a declined card) executes without an effect. Requests without an
Idempotency-Key are counted under key `null`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge

__all__ = ["Counters", "KeyCount", "OperationStats"]

REQUESTS = PromCounter(
    "toolbox_requests_total", "Requests answered, by operation and outcome", ["operation", "outcome"]
)
EFFECTS = PromCounter("toolbox_effects_total", "Executions that changed a tenant's data", ["operation"])
IN_FLIGHT = Gauge("toolbox_requests_in_flight", "Requests being answered", ["operation"])


@dataclass(slots=True)
class KeyCount:
    """Executions, effects and replays of one (tenant, operation, key)."""

    executions: int = 0
    effects: int = 0
    replays: int = 0


@dataclass(slots=True)
class OperationStats:
    """Requests of one (tenant, operation): in flight now, the most ever in flight at once, outcomes."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "outcomes": dict(self.outcomes),
        }


class Counters:
    """Per-key effect counts and per-operation request stats, by tenant."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str | None], KeyCount] = {}
        self._ops: dict[tuple[str, str], OperationStats] = {}

    def enter(self, tenant: str, operation: str) -> None:
        stats = self._ops.setdefault((tenant, operation), OperationStats())
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        IN_FLIGHT.labels(operation).inc()

    def leave(self, tenant: str, operation: str, outcome: str) -> None:
        stats = self._ops.setdefault((tenant, operation), OperationStats())
        stats.in_flight = max(0, stats.in_flight - 1)
        stats.outcomes[outcome] += 1
        IN_FLIGHT.labels(operation).dec()
        REQUESTS.labels(operation, outcome).inc()

    def executed(self, tenant: str, operation: str, key: str | None, *, effect: bool) -> None:
        count = self._keys.setdefault((tenant, operation, key), KeyCount())
        count.executions += 1
        if effect:
            count.effects += 1
            EFFECTS.labels(operation).inc()

    def replayed(self, tenant: str, operation: str, key: str) -> None:
        self._keys.setdefault((tenant, operation, key), KeyCount()).replays += 1

    def effects(self, tenant: str, operation: str | None = None, key: str | None = None) -> dict[str, object]:
        """`{"tenant", "keys": [{operation, key, executions, effects, replays}], "totals": {operation: {...}}}`."""
        rows = []
        totals: dict[str, dict[str, int]] = {}
        for (owner, op, idem), count in self._keys.items():
            if owner != tenant or (operation is not None and op != operation) or (key is not None and idem != key):
                continue
            rows.append(
                {
                    "operation": op,
                    "key": idem,
                    "executions": count.executions,
                    "effects": count.effects,
                    "replays": count.replays,
                }
            )
            total = totals.setdefault(op, {"executions": 0, "effects": 0, "replays": 0, "keys": 0})
            total["executions"] += count.executions
            total["effects"] += count.effects
            total["replays"] += count.replays
            total["keys"] += 1
        return {"tenant": tenant, "keys": rows, "totals": totals}

    def stats(self, tenant: str) -> dict[str, object]:
        """`{"tenant", "operations": {operation: {requests, in_flight, max_in_flight, outcomes}}}`."""
        ops = {op: stats.as_dict() for (owner, op), stats in self._ops.items() if owner == tenant}
        return {"tenant": tenant, "operations": ops}

    def clear(self, tenant: str | None = None) -> None:
        """Zero the counters (of one tenant, or all); requests in flight stay counted as in flight."""
        self._keys = {k: v for k, v in self._keys.items() if tenant is not None and k[0] != tenant}
        kept: dict[tuple[str, str], OperationStats] = {}
        for k, stats in self._ops.items():
            if tenant is not None and k[0] != tenant:
                kept[k] = stats
            elif stats.in_flight:
                kept[k] = OperationStats(in_flight=stats.in_flight, max_in_flight=stats.in_flight)
        self._ops = kept
