"""The tool adapter (aiaas.tools) against a real toolbox process: retries, timeouts, deadlines, manifests (issue 15,
acceptance 5). Fixtures in conftest.py; see test_tool_adapter.py for idempotency, the breaker and the bulkhead.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from aiaas.tools import ErrorClass, ToolAdapter, ToolCallError, ToolLimits, ToolManifest
from aiaas_testing.toolbox import CHARGE_ARGS, charge, orders_get
from aiaas_testing.toolbox import ToolboxControl as Control


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def failure(call: Any) -> ToolCallError:
    with pytest.raises(ToolCallError) as caught:
        await call
    return caught.value


# --- acceptance 5: retries, timeouts, deadlines -----------------------------------------------------------


async def test_retry_delays_are_seeded_full_jitter_within_bounds(
    adapter: ToolAdapter, control: Control, delays: list[float]
) -> None:
    await control.add_fault(operation="orders.get", status=503)
    attempts_before = sample("tool_call_attempts_total", tool="orders.get")
    error = await failure(adapter.call(orders_get(), {"order_id": "ORD-1001"}))
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, 503, 3)
    assert sample("tool_call_attempts_total", tool="orders.get") - attempts_before == 3
    assert error.body["error"]["code"] == "injected_fault"
    assert await control.requests("orders.get") == 3  # attempts = the adapter's max
    rng = random.Random(1234)  # the adapter's seed: the same draws, in order
    assert delays == [rng.uniform(0, 0.2), rng.uniform(0, 0.4)]
    assert delays[0] != delays[1]

    # More retries, the cap reached: every back-off within [0, min(cap, base * 2**n)], and they differ.
    delays.clear()
    tool = orders_get(max_attempts=7, retry_base_s=0.05, retry_cap_s=0.15)
    error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}))
    assert error.attempts == 7 and len(delays) == 6
    assert await control.requests("orders.get") == 3 + 7
    for n, delay in enumerate(delays):
        assert 0 <= delay <= min(0.15, 0.05 * 2**n), (n, delays)
    assert len(set(delays)) == len(delays)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_retryable_statuses_are_retried_to_the_max(
    adapter: ToolAdapter, control: Control, delays: list[float], status: int
) -> None:
    tool = orders_get(retry_base_s=0.05)
    error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}, headers={"X-Toolbox-Fault": f"status={status}"}))
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, status, 3)
    assert await control.requests("orders.get") == 3
    # 429 and 503 carry Retry-After: 1; the back-off stays within the jitter bound all the same.
    assert len(delays) == 2 and delays[0] <= 0.05 and delays[1] <= 0.1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_4xx_is_never_retried(adapter: ToolAdapter, control: Control, delays: list[float], status: int) -> None:
    fault = {"X-Toolbox-Fault": f"status={status}"}
    error = await failure(adapter.call(orders_get(), {"order_id": "ORD-1001"}, headers=fault))
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.FATAL, status, 1)
    key = f"k-{uuid.uuid4().hex}"
    error = await failure(adapter.call(charge(), CHARGE_ARGS, idempotency_key=key, headers=fault))
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.FATAL, status, 1)
    assert await control.requests("orders.get") == 1 and await control.requests("payments.charge") == 1
    assert delays == []


async def test_business_refusal_is_fatal_and_its_answer_stored(adapter: ToolAdapter, control: Control) -> None:
    key = f"k-{uuid.uuid4().hex}"
    args = {**CHARGE_ARGS, "payment_method": "pm_card_declined"}
    first = await failure(adapter.call(charge(), args, idempotency_key=key))
    second = await failure(adapter.call(charge(), args, idempotency_key=key))
    assert (first.error_class, first.status, first.code, first.attempts) == (ErrorClass.FATAL, 402, "card_declined", 1)
    assert (second.status, second.body) == (402, first.body)
    assert await control.requests("payments.charge") == 2


async def test_side_effect_is_retried_only_with_an_idempotency_key(
    adapter: ToolAdapter, control: Control, delays: list[float]
) -> None:
    tool = charge(retry_base_s=0.01)
    fault = {"X-Toolbox-Fault": "status=503"}
    error = await failure(adapter.call(tool, CHARGE_ARGS, headers=fault))
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, 503, 1)
    assert delays == []
    key = f"k-{uuid.uuid4().hex}"
    error = await failure(adapter.call(tool, CHARGE_ARGS, idempotency_key=key, headers=fault))
    assert (error.error_class, error.attempts) == (ErrorClass.RETRYABLE, 3)
    assert await control.requests("payments.charge") == 1 + 3
    assert await control.effects("payments.charge", None) == 0


async def test_retry_with_the_same_key_succeeds_with_one_effect(adapter: ToolAdapter, control: Control) -> None:
    key = f"k-{uuid.uuid4().hex}"
    fault = {"X-Toolbox-Fault": "fail_times=2"}
    result = await adapter.call(charge(retry_base_s=0.01), CHARGE_ARGS, idempotency_key=key, headers=fault)
    assert (result.status, result.attempts, result.replayed) == (201, 3, False)
    assert await control.effects("payments.charge", key) == 1
    assert await control.requests("payments.charge") == 3


async def test_per_attempt_timeout_against_a_delay_fault(adapter: ToolAdapter, control: Control) -> None:
    tool = orders_get(timeout_s=0.2, retry_base_s=0.01, max_attempts=2)
    started = time.perf_counter()
    error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}, headers={"X-Toolbox-Fault": "delay_ms=1500"}))
    elapsed = time.perf_counter() - started
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.TIMEOUT, None, 2)
    assert elapsed < 1.4, elapsed  # two 0.2 s attempts, not one 1.5 s answer
    assert await control.requests("orders.get") == 2


async def test_a_timed_out_charge_is_learned_by_calling_again_with_its_key(
    adapter: ToolAdapter, control: Control
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    tool = charge(timeout_s=0.2, max_attempts=1)
    fault = {"X-Toolbox-Fault": "delay_ms=400"}
    error = await failure(adapter.call(tool, CHARGE_ARGS, idempotency_key=key, headers=fault))
    assert (error.error_class, error.attempts) == (ErrorClass.TIMEOUT, 1)
    for _ in range(100):  # the toolbox carries on after the client left: the charge is made
        if await control.effects("payments.charge", key) == 1:
            break
        await asyncio.sleep(0.02)
    result = await adapter.call(charge(), CHARGE_ARGS, idempotency_key=key)  # a resume: same key
    assert (result.status, result.replayed) == (201, True)
    assert await control.effects("payments.charge", key) == 1


async def test_no_attempt_or_back_off_past_the_deadline(
    adapter: ToolAdapter, control: Control, delays: list[float]
) -> None:
    started = time.perf_counter()
    deadline = time.monotonic() + 0.3
    slow = {"X-Toolbox-Fault": "delay_ms=2000"}
    error = await failure(adapter.call(orders_get(), {"order_id": "ORD-1001"}, headers=slow, deadline=deadline))
    assert (error.error_class, error.attempts) == (ErrorClass.TIMEOUT, 1)
    assert time.perf_counter() - started < 1.5

    # A back-off of up to 5 s does not fit before a deadline 0.3 s away: the last error comes at once.
    tool = orders_get(retry_base_s=5.0, retry_cap_s=5.0)
    fail = {"X-Toolbox-Fault": "status=503"}
    error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}, headers=fail, deadline=time.monotonic() + 0.3))
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, 503, 1)
    assert delays == []
    error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}, deadline=time.monotonic() - 1))
    assert (error.error_class, error.attempts) == (ErrorClass.TIMEOUT, 0)
    assert await control.requests("orders.get") == 2


# --- manifest and arguments ------------------------------------------------------------------------------------


async def test_arguments_fill_the_path_query_and_body(adapter: ToolAdapter, control: Control) -> None:
    listing = ToolManifest(name="orders.list", dependency="toolbox", path="/v1/orders")
    result = await adapter.call(listing, {"status": None, "customer_email": "nobody@example.com"})
    assert (result.status, result.body) == (200, {"data": []})
    error = await failure(adapter.call(orders_get(), {}))
    assert (error.error_class, error.attempts) == (ErrorClass.FATAL, 0)
    # Quoted, "?" and "#" stay in the path parameter (unquoted, this would fetch ORD-1001): the toolbox refuses it.
    error = await failure(adapter.call(orders_get(), {"order_id": "ORD-1001?x=1#y"}))
    assert (error.error_class, error.status, error.body["error"]["param"]) == (ErrorClass.FATAL, 422, "path.order_id")
    assert error.attempts == 1


def test_manifest_validation() -> None:
    manifest = ToolManifest.model_validate(
        {"name": "crm.schedule_callback", "dependency": "toolbox", "method": "POST", "side_effect": True,
         "path": "/v1/crm/leads/{lead_id}/callbacks", "limits": {"concurrency": 4}}
    )  # fmt: skip
    assert manifest.path_params == ("lead_id",)
    assert manifest.limits == ToolLimits(concurrency=4, timeout_s=10.0, max_attempts=3, retry_base_s=0.2, retry_cap_s=5)
    for bad in (
        {"path": "v1/orders"},
        {"path": "/v1/orders/{0}"},
        {"path": "/v1/orders/{id!r}"},
        {"limits": {"retry_base_s": 1, "retry_cap_s": 0.5}},
        {"limits": {"concurrency": 0}},
        {"method": "TRACE"},
        {"extra": 1},
    ):
        with pytest.raises(ValidationError):
            ToolManifest.model_validate({"name": "x", "dependency": "toolbox", "path": "/x", **bad})


async def test_a_back_off_that_overruns_the_deadline_keeps_the_last_error(
    toolbox_url: str, toolbox_tenant: str, control: Control
) -> None:
    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.3)  # an event loop that wakes late, past the deadline

    async with ToolAdapter(
        {"toolbox": toolbox_url}, headers={"X-Toolbox-Tenant": toolbox_tenant}, rng=random.Random(7), sleep=late_sleep
    ) as tool_adapter:
        tool = orders_get(retry_base_s=0.05)
        fail = {"X-Toolbox-Fault": "status=503"}
        error = await failure(
            tool_adapter.call(tool, {"order_id": "ORD-1001"}, headers=fail, deadline=time.monotonic() + 0.2)
        )
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, 503, 1)
    assert await control.requests("orders.get") == 1
