"""Test-only control API under `/_sim` (unauthenticated), plus /health.

GET  /_sim/requests              every write: method, path, idempotency key, params, status, replayed?
GET  /_sim/meter_events          accepted meter events, totals per customer and meter, duplicates refused
POST /_sim/reset                 forget everything
POST /_sim/faults                fail the next N matching /v1 requests (500/502/503/429, before or after running)
GET|DELETE /_sim/faults
DELETE /_sim/idempotency_keys    forget saved idempotent responses (as if 24 hours had passed)
POST /_sim/webhook_endpoints     {"url", "secret", "enabled_events"}; GET lists them
POST /_sim/emit                  create and deliver an event for an object, or redeliver an event
GET  /_sim/webhook_deliveries    every delivery attempt (`?wait=true` first waits for those in flight)
POST /_sim/checkout/sessions/{id}/complete  {"outcome": "paid"|"pending"|"failed"}: the customer pays (or not);
                                 the checkout.session.* events are delivered in order, waiting for the answers
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from aiaas.errors import BadRequest, NotFound
from stripe_sim.checkout.endpoints import Outcome, complete_session
from stripe_sim.errors import StripeError
from stripe_sim.faults import FaultStatus, FaultWhen
from stripe_sim.state import StateDep

__all__ = ["control_router"]


control_router = APIRouter()


class FaultRequest(BaseModel):
    """Fail the next `count` requests matching `method` and `path_prefix` (both optional)."""

    status: FaultStatus = 500
    count: int = Field(1, ge=1, le=10_000)
    when: FaultWhen = "before"
    method: str | None = Field(None, pattern="^(GET|POST|DELETE)$")
    path_prefix: str | None = Field(None, pattern="^/v1/", max_length=200)


class EndpointRequest(BaseModel):
    """A webhook endpoint: where to POST events and the secret they are signed with."""

    url: str = Field(pattern="^https?://", max_length=2000)
    secret: str = Field(min_length=1, max_length=200)
    enabled_events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)


class EmitRequest(BaseModel):
    """A new event `type` about `object_id` (after applying `set` to it), or a redelivery of `event_id`.

    `signed_at` (unix seconds) overrides the signature timestamp, to test stale signatures.
    """

    type: str | None = Field(None, pattern=r"^[a-z_]+(\.[a-z_]+)+$", max_length=100)
    object_id: str | None = Field(None, max_length=255)
    event_id: str | None = Field(None, max_length=255)
    set: dict[str, Any] = Field(default_factory=dict)
    signed_at: int | None = Field(None, ge=0)


class CompleteRequest(BaseModel):
    """How the customer's payment ends; `signed_at` (unix seconds) overrides the signature timestamp."""

    outcome: Outcome = "paid"
    signed_at: int | None = Field(None, ge=0)


@control_router.get("/health")
async def health(state: StateDep) -> dict[str, Any]:
    """Liveness."""
    return {"status": "ok", "endpoints": len(state.webhooks.endpoints)}


@control_router.get("/_sim/requests")
async def requests(
    state: StateDep,
    method: Annotated[str | None, Query(max_length=10)] = None,
    path_prefix: Annotated[str | None, Query(max_length=200)] = None,
    idempotency_key: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """The write log, filtered by method, path prefix or idempotency key."""
    entries = [
        entry
        for entry in state.requests.entries
        if (method is None or entry["method"] == method.upper())
        and (path_prefix is None or entry["path"].startswith(path_prefix))
        and (idempotency_key is None or entry["idempotency_key"] == idempotency_key)
    ]
    return {"requests": entries}


@control_router.get("/_sim/meter_events")
async def meter_events(state: StateDep) -> dict[str, Any]:
    """Accepted meter events, totals per (customer, meter), and duplicates refused."""
    ledger = state.meter_events
    return {"events": ledger.events, "totals": ledger.totals(), "duplicates_rejected": ledger.duplicates_rejected}


@control_router.post("/_sim/reset")
async def reset(state: StateDep) -> dict[str, bool]:
    """Forget every object, saved response, fault, endpoint, log and meter event."""
    await state.webhooks.drain()
    async with state.write_lock:
        state.reset()
    return {"reset": True}


@control_router.post("/_sim/faults", status_code=status.HTTP_201_CREATED)
async def add_fault(body: FaultRequest, state: StateDep) -> dict[str, Any]:
    """Fail the next `count` matching /v1 requests."""
    return state.faults.add(body.status, body.count, body.when, body.method, body.path_prefix).as_dict()


@control_router.get("/_sim/faults")
async def list_faults(state: StateDep) -> dict[str, Any]:
    return {"faults": [rule.as_dict() for rule in state.faults.rules()]}


@control_router.delete("/_sim/faults")
async def clear_faults(state: StateDep) -> dict[str, int]:
    return {"cleared": state.faults.clear()}


@control_router.delete("/_sim/idempotency_keys")
async def expire_idempotency_keys(state: StateDep) -> dict[str, bool]:
    """Forget saved idempotent responses, as if their 24 hours had passed."""
    async with state.write_lock:
        state.idempotency.clear()
    return {"expired": True}


@control_router.post("/_sim/webhook_endpoints", status_code=status.HTTP_201_CREATED)
async def add_endpoint(body: EndpointRequest, state: StateDep) -> dict[str, Any]:
    """Register a webhook endpoint."""
    return state.webhooks.add_endpoint(body.url, body.secret, body.enabled_events).as_dict()


@control_router.get("/_sim/webhook_endpoints")
async def list_endpoints(state: StateDep) -> dict[str, Any]:
    return {"endpoints": [endpoint.as_dict() for endpoint in state.webhooks.endpoints.values()]}


@control_router.post("/_sim/emit")
async def emit(body: EmitRequest, state: StateDep) -> dict[str, Any]:
    """Create (or re-send) an event and deliver it to every endpoint that wants it; waits for the answers."""
    if body.event_id is not None:
        event = state.store.find(body.event_id)
        if event is None or event["object"] != "event":
            raise NotFound(f"No such event: '{body.event_id}'", code="resource_missing")
    else:
        if body.type is None or body.object_id is None:
            raise BadRequest("Give `type` and `object_id`, or `event_id` to redeliver an event.")
        async with state.write_lock:
            obj = state.store.find(body.object_id)
            if obj is None:
                raise NotFound(f"No such object: '{body.object_id}'", code="resource_missing")
            protected = {"id", "object"} & body.set.keys()
            if protected:
                raise BadRequest(f"`set` cannot change {', '.join(sorted(protected))}")
            previous = {key: obj.get(key) for key in body.set if obj.get(key) != body.set[key]}
            obj.update(body.set)
            event = state.webhooks.create_event(body.type, obj, previous_attributes=previous or None)
    deliveries = await state.webhooks.deliver(event, signed_at=body.signed_at)
    return {"event": event, "deliveries": deliveries}


@control_router.get("/_sim/webhook_deliveries")
async def deliveries(state: StateDep, wait: bool = False, event: str | None = None) -> dict[str, Any]:
    """Delivery attempts, oldest first; `wait=true` waits for background deliveries first."""
    if wait:
        await state.webhooks.drain()
    attempts = [d for d in state.webhooks.deliveries if event is None or d["event"] == event]
    return {"deliveries": attempts}


@control_router.post("/_sim/checkout/sessions/{session_id}/complete")
async def complete_checkout(session_id: str, body: CompleteRequest, state: StateDep) -> dict[str, Any]:
    """Stand in for the customer at the Checkout page; delivers the resulting events in order and waits."""
    async with state.write_lock:
        session = state.store.find(session_id)
        if session is None or session["object"] != "checkout.session":
            raise NotFound(f"No such checkout.session: '{session_id}'", code="resource_missing")
        try:
            events = complete_session(state, session, body.outcome)
        except StripeError as exc:
            raise BadRequest(exc.message, code=exc.code) from exc
        snapshot = dict(session)
    deliveries = [
        delivery for event in events for delivery in await state.webhooks.deliver(event, signed_at=body.signed_at)
    ]
    return {"session": snapshot, "events": events, "deliveries": deliveries}
