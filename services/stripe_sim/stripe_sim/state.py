"""The stand-in's runtime state, born in lifespan: objects, idempotency, faults, webhooks, logs."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from aiaas.deps import service_state
from stripe_sim.config import Settings
from stripe_sim.faults import FaultRegistry
from stripe_sim.idempotency import IdempotencyCache
from stripe_sim.store import Store
from stripe_sim.webhooks import Webhooks

__all__ = ["StateDep", "sim_state", "MeterLedger", "RequestLog", "SimState"]

Obj = dict[str, Any]


class RequestLog:
    """Every write request (POST, DELETE) as the stand-in saw it, in arrival order."""

    def __init__(self) -> None:
        self.entries: list[Obj] = []
        self._ids = itertools.count(1)

    def record(self, **entry: Any) -> None:
        self.entries.append({"seq": next(self._ids), **entry})

    def clear(self) -> None:
        self.entries.clear()
        self._ids = itertools.count(1)


@dataclass(slots=True)
class MeterLedger:
    """Accepted meter events (each identifier once) and how many duplicates were refused."""

    events: list[Obj] = field(default_factory=list)
    identifiers: set[str] = field(default_factory=set)
    duplicates_rejected: int = 0

    def totals(self) -> list[Obj]:
        """Sum of values and event count per (customer, meter)."""
        sums: dict[tuple[str, str, str], tuple[Decimal, int]] = {}
        for event in self.events:
            key = (event["customer"], event["meter"], event["event_name"])
            total, count = sums.get(key, (Decimal(0), 0))
            sums[key] = (total + Decimal(event["value"]), count + 1)
        return [
            {"customer": customer, "meter": meter, "event_name": name, "value": format(total, "f"), "events": count}
            for (customer, meter, name), (total, count) in sorted(sums.items())
        ]

    def clear(self) -> None:
        self.events.clear()
        self.identifiers.clear()
        self.duplicates_rejected = 0


@dataclass(slots=True)
class SimState:
    """Everything one stand-in process knows; writes run one at a time under `write_lock`."""

    settings: Settings
    store: Store = field(default_factory=Store)
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    requests: RequestLog = field(default_factory=RequestLog)
    meter_events: MeterLedger = field(default_factory=MeterLedger)
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    webhooks: Webhooks = field(init=False)
    invoice_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.webhooks = Webhooks(self.store, self.settings.webhook_timeout_s)

    def reset(self) -> None:
        """Forget every object, saved response, fault, endpoint, log and meter event."""
        self.store.reset()
        self.idempotency.clear()
        self.faults.clear()
        self.requests.clear()
        self.meter_events.clear()
        self.webhooks.reset()
        self.invoice_numbers = itertools.count(1)


def sim_state(conn: HTTPConnection) -> SimState:
    """The state born in lifespan, for the plain Starlette routes (they take no dependencies)."""
    state = service_state(conn)
    assert isinstance(state, SimState)
    return state


StateDep = Annotated[SimState, Depends(service_state)]
