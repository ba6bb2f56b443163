"""The tool adapter (aiaas.tools) against a real toolbox process: issue 15, acceptance 3 and 5.

The toolbox (`python -m toolbox`) is started as an OS process on a free port, as its own tests do.
Fixtures in conftest.py. Each test has a tenant of its own, so its fault rules, keys, effect counters and request stats
(`/control/effects`, `/control/stats`: every attempt the adapter sends counts as one request)
are its own. Nothing of ours is mocked: the breaker gets a clock the test can move forward
(30 s of cool-down are not waited out), and retries get a seeded `random.Random` and a sleep that
records each back-off before sleeping it for real.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY

from aiaas.resilience import BreakerState
from aiaas.tools import DEFAULT_BREAKER, ErrorClass, ToolAdapter, ToolCallError, ToolLimits, ToolManifest
from aiaas_testing import free_port
from aiaas_testing.toolbox import CHARGE_ARGS, ManualClock, charge, orders_get
from aiaas_testing.toolbox import ToolboxControl as Control


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def failure(call: Any) -> ToolCallError:
    with pytest.raises(ToolCallError) as caught:
        await call
    return caught.value


# --- acceptance 3: idempotency through the adapter ------------------------------------------------------------


async def test_same_key_twice_is_one_effect_and_the_stored_result(adapter: ToolAdapter, control: Control) -> None:
    key = f"k-{uuid.uuid4().hex}"
    first = await adapter.call(charge(), CHARGE_ARGS, idempotency_key=key)
    second = await adapter.call(charge(), CHARGE_ARGS, idempotency_key=key)
    assert (first.status, first.replayed, first.attempts) == (201, False, 1)
    assert (second.status, second.replayed, second.attempts) == (201, True, 1)
    assert second.body == first.body and first.body["status"] == "succeeded"
    assert await control.effects("payments.charge", key) == 1


async def test_twenty_concurrent_calls_with_one_key_make_one_effect(adapter: ToolAdapter, control: Control) -> None:
    key = f"k-{uuid.uuid4().hex}"
    tool = charge(concurrency=50, max_attempts=5)
    results = await asyncio.gather(
        *(adapter.call(tool, CHARGE_ARGS, idempotency_key=key) for _ in range(20)), return_exceptions=True
    )
    assert await control.effects("payments.charge", key) == 1
    successes = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    # The losers met `idempotency_key_in_use` (409, retryable) and retried with the same key: they get the
    # stored answer, or (if the first was still running through all their attempts) a retryable error.
    assert successes, errors
    assert len({r.body["id"] for r in successes}) == 1
    assert sum(1 for r in successes if r.replayed is False) == 1
    for error in errors:
        assert isinstance(error, ToolCallError), error
        assert (error.error_class, error.status, error.code) == (
            ErrorClass.RETRYABLE,
            409,
            "idempotency_key_in_use",
        )
    assert adapter.breakers.state("toolbox") is BreakerState.CLOSED  # a busy key is not an unwell backend


async def test_same_key_with_other_args_is_a_fatal_409(adapter: ToolAdapter, control: Control) -> None:
    key = f"k-{uuid.uuid4().hex}"
    await adapter.call(charge(), CHARGE_ARGS, idempotency_key=key)
    error = await failure(adapter.call(charge(), {**CHARGE_ARGS, "amount_minor": 100}, idempotency_key=key))
    assert (error.error_class, error.status, error.code, error.attempts) == (
        ErrorClass.FATAL,
        409,
        "idempotency_key_reused",
        1,
    )
    assert error.body["error"]["retryable"] is False
    assert await control.effects("payments.charge", key) == 1
    assert await control.requests("payments.charge") == 2


# --- acceptance 5: breaker, bulkhead, retry -------------------------------------------------------------------


async def test_breaker_opens_after_five_failures_refuses_fast_and_one_probe_closes_it(
    adapter: ToolAdapter, control: Control, clock: ManualClock
) -> None:
    tool = orders_get(retry_base_s=0.01, retry_cap_s=0.02)
    await control.add_fault(operation="orders.get", status=503)
    for n in range(5):
        assert adapter.breakers.state("toolbox") is BreakerState.CLOSED
        error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}))
        assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, 503, 3), n
    assert adapter.breakers.state("toolbox") is BreakerState.OPEN
    assert await control.requests("orders.get") == 15  # 5 calls x 3 attempts

    # Open: refused without a request, fast (median of 20: the machine is noisy).
    elapsed = []
    for _ in range(20):
        started = time.perf_counter()
        error = await failure(adapter.call(tool, {"order_id": "ORD-1001"}))
        elapsed.append(time.perf_counter() - started)
        assert (error.error_class, error.attempts, error.status) == (ErrorClass.CIRCUIT_OPEN, 0, None)
        assert error.retry_after_s is not None and 0 < error.retry_after_s <= 30
    assert statistics.median(elapsed) < 0.005, elapsed
    assert await control.requests("orders.get") == 15

    # The backend recovers; the breaker stays open for its 30 s.
    await control.clear_faults()
    clock.skew += 29.0
    assert (await failure(adapter.call(tool, {"order_id": "ORD-1001"}))).error_class is ErrorClass.CIRCUIT_OPEN
    assert await control.requests("orders.get") == 15

    # After 30 s one probe goes (held 300 ms at the toolbox); a second call meanwhile is refused.
    clock.skew += 1.1
    probe = asyncio.create_task(
        adapter.call(tool, {"order_id": "ORD-1001"}, headers={"X-Toolbox-Fault": "delay_ms=300"})
    )
    while adapter.in_flight("orders.get") == 0:
        await asyncio.sleep(0.001)
    assert adapter.breakers.state("toolbox") is BreakerState.HALF_OPEN
    assert (await failure(adapter.call(tool, {"order_id": "ORD-1001"}))).error_class is ErrorClass.CIRCUIT_OPEN
    result = await probe
    assert (result.status, result.attempts, result.body["id"]) == (200, 1, "ORD-1001")
    assert adapter.breakers.state("toolbox") is BreakerState.CLOSED
    assert (await adapter.call(tool, {"order_id": "ORD-1001"})).status == 200
    assert await control.requests("orders.get") == 17


async def test_default_breaker_is_the_issues_and_reports_its_state(toolbox_url: str) -> None:
    assert (DEFAULT_BREAKER.failure_threshold, DEFAULT_BREAKER.cooldown_seconds) == (5, 30.0)
    assert DEFAULT_BREAKER.half_open_max_probes == 1
    dead = ToolManifest(name="dead.get", dependency="dead-default", path="/x", limits=ToolLimits(max_attempts=1))
    async with ToolAdapter({"dead-default": f"http://127.0.0.1:{free_port()}"}) as tool_adapter:
        for _ in range(5):
            assert (await failure(tool_adapter.call(dead))).error_class is ErrorClass.RETRYABLE
        assert (await failure(tool_adapter.call(dead))).error_class is ErrorClass.CIRCUIT_OPEN
    assert sample("circuit_breaker_state", key="dead-default") == BreakerState.OPEN.value


async def test_breaker_counts_connection_errors_not_4xx_answers(adapter: ToolAdapter, control: Control) -> None:
    for _ in range(6):
        error = await failure(adapter.call(orders_get(), {"order_id": "ORD-NOPE"}))
        assert (error.error_class, error.status, error.code) == (ErrorClass.FATAL, 404, "order_not_found")
    assert adapter.breakers.state("toolbox") is BreakerState.CLOSED

    dead = ToolManifest(name="dead.get", dependency="dead", path="/x", limits=ToolLimits(retry_base_s=0.01))
    for _ in range(5):
        error = await failure(adapter.call(dead))
        assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, None, 3)
    assert adapter.breakers.state("dead") is BreakerState.OPEN
    assert (await failure(adapter.call(dead))).error_class is ErrorClass.CIRCUIT_OPEN
    assert adapter.breakers.state("toolbox") is BreakerState.CLOSED  # per dependency


async def test_bulkhead_of_ten_under_fifty_concurrent_calls(adapter: ToolAdapter, control: Control) -> None:
    tool = orders_get(concurrency=10)
    await control.add_fault(operation="orders.get", delay_ms=300)
    full_before = sample("tool_calls_total", tool="orders.get", outcome="bulkhead_full")
    ok_before = sample("tool_calls_total", tool="orders.get", outcome="ok")
    results = await asyncio.gather(
        *(adapter.call(tool, {"order_id": "ORD-1001"}) for _ in range(50)), return_exceptions=True
    )
    successes = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(successes) == 10 and all(r.status == 200 for r in successes)
    assert len(errors) == 40
    for error in errors:
        assert isinstance(error, ToolCallError), error
        assert (error.error_class, error.attempts) == (ErrorClass.BULKHEAD_FULL, 0)
    stats = await control.stats("orders.get")
    assert stats["max_in_flight"] <= 10 and stats["requests"] == 10, stats
    assert adapter.in_flight("orders.get") == 0
    assert adapter.breakers.state("toolbox") is BreakerState.CLOSED  # refusals are not backend failures
    assert sample("tool_calls_total", tool="orders.get", outcome="bulkhead_full") - full_before == 40
    assert sample("tool_calls_total", tool="orders.get", outcome="ok") - ok_before == 10
    assert sample("tool_calls_in_flight", tool="orders.get") == 0
