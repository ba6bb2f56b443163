"""The toolbox's runtime state, born in lifespan: tenants' data, idempotency keys, fault rules, counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends

from aiaas.deps import service_state
from toolbox.config import Settings
from toolbox.counters import Counters
from toolbox.faults import FaultRegistry
from toolbox.idempotency import IdempotencyStore
from toolbox.store import Store

__all__ = ["StateDep", "ToolboxState"]


@dataclass(slots=True)
class ToolboxState:
    """Everything one toolbox process knows (in memory: it is a stand-in; restarting it forgets everything).

    One event loop and no await inside a backend's execution: each request's effect is atomic.
    """

    settings: Settings
    store: Store = field(init=False)
    idempotency: IdempotencyStore = field(init=False)
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self.store = Store(self.settings.demo_data)
        self.idempotency = IdempotencyStore(self.settings.idempotency_ttl_s)

    def reset(self, tenant: str | None = None) -> None:
        """Forget data, stored answers, fault rules and counters of one tenant, or of all."""
        self.store.reset(tenant)
        self.idempotency.clear(tenant)
        self.faults.clear(tenant)
        self.counters.clear(tenant)


StateDep = Annotated[ToolboxState, Depends(service_state)]
