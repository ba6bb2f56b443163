"""The tool adapter (aiaas.tools) against a real toolbox process: issue 15, acceptance 3 and 5.

The toolbox (`python -m toolbox`) is started as an OS process on a free port, as its own tests do.
Each test has a tenant of its own, so its fault rules, keys, effect counters and request stats
(`/control/effects`, `/control/stats`: every attempt the adapter sends counts as one request)
are its own. Nothing of ours is mocked: the breaker gets a clock the test can move forward
(30 s of cool-down are not waited out), and retries get a seeded `random.Random` and a sleep that
records each back-off before sleeping it for real.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from aiaas.resilience import BreakerRegistry, BreakerState
from aiaas.tools import DEFAULT_BREAKER, ErrorClass, ToolAdapter, ToolCallError, ToolLimits, ToolManifest
from aiaas_testing import ServiceProcess, free_port

CHARGE_ARGS = {"order_id": "ORD-1001", "amount_minor": 5198, "currency": "usd"}


def orders_get(**limits: Any) -> ToolManifest:
    return ToolManifest(
        name="orders.get", dependency="toolbox", path="/v1/orders/{order_id}", limits=ToolLimits(**limits)
    )


def charge(**limits: Any) -> ToolManifest:
    return ToolManifest(
        name="payments.charge",
        dependency="toolbox",
        method="POST",
        path="/v1/payments/charges",
        side_effect=True,
        limits=ToolLimits(**limits),
    )


@pytest.fixture(scope="module")
def toolbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real toolbox process, stopped at the end of the module."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "toolbox", "--host", "127.0.0.1", "--port", str(port)],
        env={"TOOLBOX_STALL_S": "3", "TOOLBOX_METRICS_PORT": "0"},
        log_path=tmp_path_factory.mktemp("toolbox") / "server.log",
        ready_url=f"{url}/health/ready",
    ).start(timeout_s=20)
    yield url
    process.stop()


@dataclass
class Control:
    """The toolbox's control API for one tenant (tests only)."""

    http: aiohttp.ClientSession
    url: str
    tenant: str

    async def add_fault(self, **rule: Any) -> None:
        async with self.http.post(f"{self.url}/control/faults", json={"tenant": self.tenant, **rule}) as response:
            assert response.status == 201, await response.text()

    async def clear_faults(self) -> None:
        async with self.http.delete(f"{self.url}/control/faults", params={"tenant": self.tenant}) as response:
            assert response.status == 200, await response.text()

    async def stats(self, operation: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/control/stats", params={"tenant": self.tenant}) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        empty = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "outcomes": {}}
        stats: dict[str, Any] = body["operations"].get(operation, empty)
        return stats

    async def requests(self, operation: str) -> int:
        return int((await self.stats(operation))["requests"])

    async def effects(self, operation: str, key: str | None) -> int:
        params = {"tenant": self.tenant, "operation": operation}
        async with self.http.get(f"{self.url}/control/effects", params=params) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        return sum(row["effects"] for row in body["keys"] if row["key"] == key)


@dataclass
class ManualClock:
    """time.monotonic() plus a skew the test adds to: the breaker's cool-down passes without waiting."""

    skew: float = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skew


@pytest.fixture(scope="module")
async def control_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def control(control_http: aiohttp.ClientSession, toolbox_url: str, tenant: str) -> Control:
    return Control(control_http, toolbox_url, tenant)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
async def adapter(toolbox_url: str, tenant: str, clock: ManualClock, delays: list[float]) -> AsyncIterator[ToolAdapter]:
    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(seconds)

    async with ToolAdapter(
        {"toolbox": toolbox_url, "dead": f"http://127.0.0.1:{free_port()}"},
        breakers=BreakerRegistry(DEFAULT_BREAKER, clock=clock),
        headers={"X-Toolbox-Tenant": tenant},
        rng=random.Random(1234),
        sleep=recording_sleep,
    ) as tool_adapter:
        yield tool_adapter


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
    toolbox_url: str, tenant: str, control: Control
) -> None:
    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.3)  # an event loop that wakes late, past the deadline

    async with ToolAdapter(
        {"toolbox": toolbox_url}, headers={"X-Toolbox-Tenant": tenant}, rng=random.Random(7), sleep=late_sleep
    ) as tool_adapter:
        tool = orders_get(retry_base_s=0.05)
        fail = {"X-Toolbox-Fault": "status=503"}
        error = await failure(
            tool_adapter.call(tool, {"order_id": "ORD-1001"}, headers=fail, deadline=time.monotonic() + 0.2)
        )
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.RETRYABLE, 503, 1)
    assert await control.requests("orders.get") == 1
