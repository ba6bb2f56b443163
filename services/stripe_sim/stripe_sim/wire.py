"""The request pipeline every `/v1` endpoint shares, in Stripe's order.

auth (Bearer or Basic secret key) -> route by method -> decode form/query ->
injected fault -> for POST/DELETE: one at a time under the write lock, with
idempotent replay -> handler -> `expand` -> JSON with `Request-Id`. Every write is
recorded in the request log (`GET /_sim/requests`).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sim.config import API_VERSION, Settings
from stripe_sim.errors import ParamError, StripeError
from stripe_sim.faults import FaultRule, fault_error
from stripe_sim.forms import Params, decode_form
from stripe_sim.idempotency import IdempotencyCache, SavedResponse, fingerprint
from stripe_sim.state import SimState, sim_state
from stripe_sim.store import new_id

__all__ = ["Call", "Handler", "retriever", "stripe_route", "unknown_route"]

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as a handler sees it."""

    sim: SimState
    params: Params
    path: Mapping[str, str]
    request_id: str
    idempotency_key: str | None

    def emit(self, event_type: str, obj: Obj, previous_attributes: Obj | None = None) -> Obj:
        """Raise an event for `obj` and deliver it to the registered endpoints in the background."""
        event = self.sim.webhooks.create_event(
            event_type,
            obj,
            previous_attributes=previous_attributes,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )
        self.sim.webhooks.deliver_soon(event)
        return event

    def created(self, obj: Obj, event_type: str) -> Obj:
        """Store a new object and raise its `*.created` event."""
        self.sim.store.add(obj)
        self.emit(event_type, obj)
        return obj


Handler = Callable[[Call], Obj]


def retriever(object_type: str) -> Handler:
    """The `GET /v1/<things>/{id}` handler of an object type."""

    def retrieve(call: Call) -> Obj:
        call.params.only([])
        return call.sim.store.get(object_type, call.path["id"])

    return retrieve


def stripe_route(path: str, handlers: Mapping[str, Handler]) -> Route:
    """A route answering `handlers` by method and Stripe's 404 for any other method."""

    async def endpoint(request: Request) -> Response:
        return await _serve(request, handlers.get(request.method))

    return Route(path, endpoint, methods=["GET", "POST", "DELETE"], name=path)


def unknown_route() -> Route:
    """Catch-all for `/v1/...` paths the stand-in does not know."""

    async def endpoint(request: Request) -> Response:
        return await _serve(request, None)

    return Route("/v1/{rest:path}", endpoint, methods=["GET", "POST", "DELETE", "PUT", "PATCH"])


async def _serve(request: Request, handler: Handler | None) -> Response:
    sim = sim_state(request)
    request_id = new_id("req", 14)
    method, path = request.method, request.url.path
    headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("stripe-version") or API_VERSION}
    key = request.headers.get("idempotency-key") if method == "POST" else None
    if key is not None:
        headers["Idempotency-Key"] = key
    params: Obj = {}
    outcome = _Outcome(200, b"")
    try:
        api_key = _authenticate(request.headers.get("authorization"), sim.settings)
        if handler is None:
            raise StripeError(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
            )
        raw = await request.body() if method == "POST" else request.url.query
        params = decode_form(raw)
        fault = sim.faults.take(method, path)
        if fault is not None and fault.when == "before":
            outcome.fault = fault
            raise fault_error(fault.status)
        call = Call(sim, Params(params), request.path_params, request_id, key)
        if method == "GET":
            outcome.body = _run(handler, call)
        else:
            async with sim.write_lock:
                outcome = _write(sim, handler, call, api_key, method, path)
            if fault is not None:
                outcome.fault = fault
                raise fault_error(fault.status)
    except StripeError as exc:
        outcome.status, outcome.body = exc.status, orjson.dumps(exc.body(request_id))
        headers.update(exc.headers)
    if outcome.replayed_from is not None:
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = outcome.replayed_from
    if method != "GET":
        sim.requests.record(
            method=method,
            path=path,
            idempotency_key=key,
            params=params,
            status=outcome.status,
            replayed=outcome.replayed_from is not None,
            fault=None if outcome.fault is None else f"{outcome.fault.status} {outcome.fault.when}",
            request_id=request_id,
            at=time.time(),
        )
    return Response(outcome.body, status_code=outcome.status, media_type="application/json", headers=headers)


@dataclass(slots=True)
class _Outcome:
    status: int
    body: bytes
    replayed_from: str | None = None
    fault: FaultRule | None = None


def _run(handler: Handler, call: Call) -> bytes:
    obj = handler(call)
    return orjson.dumps(call.sim.store.expand(obj, call.params.strings("expand")))


def _write(sim: SimState, handler: Handler, call: Call, api_key: str, method: str, path: str) -> _Outcome:
    """Run a write once per idempotency key; a repeat with the same parameters replays the saved answer."""
    key = call.idempotency_key
    request_fingerprint = fingerprint(method, path, call.params.data)
    if key is not None:
        IdempotencyCache.check_key(key)
        saved = sim.idempotency.lookup(api_key, key, request_fingerprint)
        if saved is not None:
            return _Outcome(saved.status, saved.body, replayed_from=saved.request_id)
    try:
        outcome = _Outcome(200, _run(handler, call))
    except ParamError:
        raise  # the endpoint never began executing: nothing is saved, as on Stripe
    except StripeError as exc:
        outcome = _Outcome(exc.status, orjson.dumps(exc.body(call.request_id)))
    if key is not None:
        saved = SavedResponse(request_fingerprint, outcome.status, outcome.body, call.request_id, time.monotonic())
        sim.idempotency.save(api_key, key, saved)
    return outcome


def _authenticate(authorization: str | None, settings: Settings) -> str:
    """The secret key of the request (Bearer, or Basic with the key as user name)."""
    key = ""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            key = value.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            code="api_key_missing",
        )
    valid = key in settings.api_keys if settings.api_keys else key.startswith(("sk_test_", "rk_test_"))
    if not valid:
        shown = f"{key[:8]}{'*' * 12}{key[-4:]}" if len(key) > 12 else "*" * len(key)
        raise StripeError(401, f"Invalid API Key provided: {shown}", code="api_key_invalid")
    return key
