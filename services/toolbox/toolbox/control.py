"""Test-only control API under `/control` (unauthenticated): seed data, read effects and state, set faults, reset.

Every call names its tenant (`tenant=` in the query or the body), except the global reset and `*` fault rules.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import Field, ValidationError, field_validator

from toolbox.backends import OPERATIONS
from toolbox.errors import unprocessable
from toolbox.faults import ANY, AfterEffect, FaultSpec
from toolbox.objects import Lead, Order, StockLevel, new_id
from toolbox.pipeline import TENANT_PATTERN
from toolbox.schemas import Email, Ident, Model, Phone, Text
from toolbox.state import StateDep
from toolbox.store import TenantData

__all__ = ["control_router"]

control_router = APIRouter(prefix="/control", tags=["control"])

TenantQuery = Annotated[str, Query(pattern=TENANT_PATTERN, description="The tenant (X-Toolbox-Tenant's value).")]
OptionalTenantQuery = Annotated[str | None, Query(pattern=TENANT_PATTERN)]
Tenant = Annotated[str, Field(pattern=TENANT_PATTERN)]


class SeedLead(Model):
    id: Ident | None = None
    email: Email
    name: Text
    company: Text | None = None
    phone: Phone | None = None
    source: Text | None = None


class SeedRequest(Model):
    """Orders, stock levels and leads for `tenant`; `replace` first empties the tenant (no demo data)."""

    tenant: Tenant
    replace: bool = False
    orders: Annotated[list[Order], Field(max_length=1000)] = Field(default_factory=list)
    stock: Annotated[list[StockLevel], Field(max_length=1000)] = Field(default_factory=list)
    leads: Annotated[list[SeedLead], Field(max_length=1000)] = Field(default_factory=list)


class FaultRequest(Model):
    """A fault (see toolbox.faults) for requests of `tenant` to `operation` (`*` = any), `count` times
    (null = until cleared)."""

    tenant: Annotated[str, Field(pattern=TENANT_PATTERN + r"|^\*$")] = ANY
    operation: str = ANY
    count: Annotated[int, Field(ge=1, le=100_000)] | None = None
    status: Annotated[int, Field(ge=400, le=599)] | None = None
    fail_times: Annotated[int, Field(ge=1, le=1000)] | None = None
    delay_ms: Annotated[int, Field(ge=0, le=600_000)] = 0
    after_effect: AfterEffect | None = None
    stall_ms: Annotated[int, Field(ge=0, le=600_000)] | None = None
    retry_after: Annotated[int, Field(ge=0, le=3600)] | None = None

    @field_validator("operation")
    @classmethod
    def _known_operation(cls, value: str) -> str:
        if value != ANY and value not in OPERATIONS:
            raise ValueError("unknown operation (GET /control/operations lists them)")
        return value


@control_router.get("/operations")
async def operations() -> dict[str, list[str]]:
    """Every operation name, as fault rules and counters use them."""
    return {"operations": list(OPERATIONS)}


@control_router.post("/seed")
async def seed(body: SeedRequest, state: StateDep) -> dict[str, Any]:
    """Load orders, stock and leads into one tenant (by id, SKU and email: a seeded item replaces its namesake)."""
    if body.replace:
        state.store.replace(body.tenant, TenantData())
    leads = [Lead(**{**lead.model_dump(), "id": lead.id or new_id("lead")}) for lead in body.leads]
    data = state.store.tenant(body.tenant)
    data.load(body.orders, body.stock, leads)
    return {"tenant": body.tenant, "orders": len(data.orders), "stock": len(data.stock), "leads": len(data.leads)}


@control_router.get("/state")
async def tenant_state(state: StateDep, tenant: TenantQuery) -> dict[str, Any]:
    """Everything the tenant's systems hold: orders, stock, reservations, charges, refunds, shipments, leads,
    callbacks, messages."""
    return {"tenant": tenant, **state.store.tenant(tenant).snapshot()}


@control_router.get("/effects")
async def effects(
    state: StateDep,
    tenant: TenantQuery,
    operation: Annotated[str | None, Query(max_length=64)] = None,
    key: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """Executions, effects and replays per (operation, Idempotency-Key), and totals per operation."""
    return state.counters.effects(tenant, operation, key)


@control_router.get("/stats")
async def stats(state: StateDep, tenant: TenantQuery) -> dict[str, Any]:
    """Per operation: requests, in flight now, most in flight at once, answers by outcome."""
    return state.counters.stats(tenant)


@control_router.post("/faults", status_code=status.HTTP_201_CREATED)
async def add_fault(body: FaultRequest, state: StateDep) -> dict[str, Any]:
    """Add a fault rule; rules match in the order they were added, a request header overrides them."""
    try:
        spec = FaultSpec(
            status=body.status,
            fail_times=body.fail_times,
            delay_ms=body.delay_ms,
            after_effect=body.after_effect,
            stall_ms=body.stall_ms,
            retry_after=body.retry_after,
        )
    except (ValueError, ValidationError) as exc:
        raise unprocessable("invalid_fault", str(exc)) from None
    if spec == FaultSpec():
        raise unprocessable("invalid_fault", "A fault needs status, fail_times, delay_ms or after_effect.")
    return state.faults.add(body.tenant, body.operation, spec, body.count).as_dict()


@control_router.get("/faults")
async def list_faults(state: StateDep, tenant: OptionalTenantQuery = None) -> dict[str, Any]:
    """Active fault rules (of one tenant's own rules, or all), in matching order."""
    return {"faults": [rule.as_dict() for rule in state.faults.rules(tenant)]}


@control_router.delete("/faults")
async def clear_faults(state: StateDep, tenant: OptionalTenantQuery = None) -> dict[str, int]:
    """Remove every fault rule (or one tenant's) and the fail_times attempt counts."""
    return {"cleared": state.faults.clear(tenant)}


@control_router.delete("/idempotency-keys")
async def expire_keys(state: StateDep, tenant: OptionalTenantQuery = None) -> dict[str, int]:
    """Forget stored answers (as if TOOLBOX_IDEMPOTENCY_TTL_S had passed): the next request with a key runs again."""
    return {"expired": state.idempotency.clear(tenant)}


@control_router.post("/reset")
async def reset(state: StateDep, tenant: OptionalTenantQuery = None) -> dict[str, bool]:
    """Forget one tenant's (or every tenant's) data, stored answers, fault rules and counters."""
    state.reset(tenant)
    return {"reset": True}
