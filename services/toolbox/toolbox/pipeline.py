"""One path every backend request takes: tenant, faults, idempotency, the execution, counters.

    X-Toolbox-Tenant (required)  -> which tenant's data; every store, key and counter is namespaced by it
    X-Toolbox-Fault (optional)   -> toolbox.faults; else the first matching control-API rule
    Idempotency-Key (optional)   -> toolbox.idempotency (side-effecting POSTs only; reads ignore it)

Order: `status`/`fail_times` faults (nothing runs) -> idempotency lookup (replay or 409) -> claim -> `delay_ms`
-> execution (synchronous: one event loop, so the effect is atomic) -> store the answer -> `after_effect`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from toolbox.delivery import ClosedConnection, hold
from toolbox.errors import ToolboxError
from toolbox.faults import FaultSpec, injected_error, parse_fault
from toolbox.idempotency import check_key
from toolbox.state import StateDep, ToolboxState
from toolbox.store import TenantData

__all__ = ["TENANT_PATTERN", "Call", "CallDep", "Outcome", "run"]

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an execution answers, and whether it changed the tenant's data."""

    status: int
    body: BaseModel | dict[str, Any]
    effect: bool


@dataclass(frozen=True, slots=True)
class Call:
    """The headers of one backend request, checked."""

    request: Request
    state: ToolboxState
    tenant: str
    key: str | None
    fault: FaultSpec | None
    request_id: str


async def call_context(
    request: Request,
    state: StateDep,
    tenant: Annotated[
        str,
        Header(alias="X-Toolbox-Tenant", pattern=TENANT_PATTERN, description="The tenant whose systems are called."),
    ],
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="Side-effecting POSTs: run once per key (1-255 ASCII).")
    ] = None,
    # Not in the OpenAPI schema: a schema-driven fuzzer would inject 5xx and hangs itself (README documents it).
    fault: Annotated[str | None, Header(alias="X-Toolbox-Fault", include_in_schema=False)] = None,
) -> Call:
    key = None if idempotency_key is None else check_key(idempotency_key)
    spec = None if fault is None else parse_fault(fault)
    return Call(request, state, tenant, key, spec, f"req_{secrets.token_hex(8)}")


CallDep = Annotated[Call, Depends(call_context)]


def _dump(body: BaseModel | dict[str, Any]) -> bytes:
    return orjson.dumps(body.model_dump(mode="json") if isinstance(body, BaseModel) else body)


async def run(
    call: Call,
    operation: str,
    args: dict[str, Any],
    execute: Callable[[TenantData], Outcome],
    *,
    side_effect: bool,
) -> Response:
    """Answer one backend request; `args` are the canonical arguments (path parameters and validated body)."""
    state, tenant = call.state, call.tenant
    state.counters.enter(tenant, operation)
    outcome = "error"
    try:
        response, outcome = await _run(call, operation, args, execute, side_effect=side_effect)
        return response
    except ToolboxError as exc:
        outcome = outcome if outcome != "error" else exc.code
        raise
    finally:
        state.counters.leave(tenant, operation, outcome)


async def _run(
    call: Call,
    operation: str,
    args: dict[str, Any],
    execute: Callable[[TenantData], Outcome],
    *,
    side_effect: bool,
) -> tuple[Response, str]:
    state, tenant = call.state, call.tenant
    key = call.key if side_effect else None
    fingerprint = hashlib.sha256(orjson.dumps([operation, args], option=orjson.OPT_SORT_KEYS)).digest()
    fault = call.fault if call.fault is not None else state.faults.take(tenant, operation)
    headers = {"Request-Id": call.request_id}

    if fault is not None and fault.before_status is not None:
        failing = True
        if fault.fail_times is not None:
            ident = f"key:{key}" if key is not None else f"args:{fingerprint.hex()}"
            failing = state.faults.attempt(tenant, operation, ident) <= fault.fail_times
        if failing:
            error = injected_error(fault.before_status, operation, fault.retry_after)
            return _error_response(error, headers), f"fault_{fault.before_status}"

    if key is not None:
        stored = state.idempotency.lookup(tenant, key, fingerprint)
        if stored is not None:
            state.counters.replayed(tenant, operation, key)
            replay_headers = {**headers, "Idempotent-Replayed": "true", "Original-Request": stored.request_id}
            return Response(stored.body, stored.status, replay_headers, "application/json"), "replayed"
        state.idempotency.claim(tenant, key, fingerprint, call.request_id)

    try:
        if fault is not None and fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        try:
            result = execute(state.store.tenant(tenant))
            status, body, effect = result.status, _dump(result.body), result.effect
        except ToolboxError as exc:  # a business refusal is an answer too: stored like a success
            status, body, effect = exc.status, orjson.dumps(exc.body()), False
        if side_effect:
            state.counters.executed(tenant, operation, key, effect=effect)
        if key is not None:
            state.idempotency.store(tenant, key, fingerprint, status, body, call.request_id)
    except BaseException:
        if key is not None:
            state.idempotency.release(tenant, key)
        raise

    if key is not None:
        headers["Idempotent-Replayed"] = "false"
    response = Response(body, status, headers, "application/json")
    if fault is None or fault.after_effect is None:
        return response, str(status)
    if fault.after_effect == "stall":
        stall_s = state.settings.stall_s if fault.stall_ms is None else fault.stall_ms / 1000
        await hold(call.request, stall_s)
        return response, "stalled"
    if fault.after_effect == "close":
        return ClosedConnection(), "closed"
    error = injected_error(fault.after_status, operation, fault.retry_after)
    return _error_response(error, headers), f"lost_{fault.after_status}"


def _error_response(error: ToolboxError, headers: dict[str, str]) -> Response:
    response = error.to_response()
    response.headers.update(headers)
    return response
