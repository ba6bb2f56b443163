"""BreakerRegistry with an injected clock: open, cool-down, half-open probes, close, re-open."""

from __future__ import annotations

import asyncio

import pytest

from aiaas.resilience import BreakerConfig, BreakerOpen, BreakerRegistry, BreakerState

CLOSED, HALF_OPEN, OPEN = BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _registry(threshold: int = 3, cooldown: float = 10.0, probes: int = 1):
    clock = _Clock()
    changes: list[tuple[str, BreakerState, BreakerState]] = []
    registry = BreakerRegistry(
        BreakerConfig(failure_threshold=threshold, cooldown_seconds=cooldown, half_open_max_probes=probes),
        clock=clock,
        on_state_change=lambda key, old, new: changes.append((key, old, new)),
    )
    return registry, clock, changes


def _trip(registry: BreakerRegistry, key: str, times: int) -> None:
    for _ in range(times):
        assert registry.allow(key)
        registry.record_failure(key)


def test_opens_after_consecutive_failures_only():
    registry, _, changes = _registry(threshold=3)
    _trip(registry, "a", 2)
    registry.record_success("a")  # resets the run of failures
    _trip(registry, "a", 2)
    assert registry.state("a") is CLOSED
    assert changes == []
    _trip(registry, "a", 1)
    assert registry.state("a") is OPEN
    assert changes == [("a", CLOSED, OPEN)]


def test_rejects_while_open_until_cooldown_passes():
    registry, clock, _ = _registry(threshold=2, cooldown=10.0)
    _trip(registry, "a", 2)
    assert registry.allow("a") is False
    assert registry.retry_in("a") == pytest.approx(10.0)
    clock.now += 9.99
    assert registry.allow("a") is False
    assert registry.state("a") is OPEN
    assert registry.retry_in("a") == pytest.approx(0.01)


def test_half_open_admits_exactly_one_probe_then_success_closes():
    registry, clock, changes = _registry(threshold=2, cooldown=10.0)
    _trip(registry, "a", 2)
    clock.now += 10.0
    assert registry.allow("a") is True
    assert registry.state("a") is HALF_OPEN
    assert registry.allow("a") is False
    assert registry.allow("a") is False
    registry.record_success("a")
    assert registry.state("a") is CLOSED
    assert [registry.allow("a") for _ in range(5)] == [True] * 5
    assert changes == [("a", CLOSED, OPEN), ("a", OPEN, HALF_OPEN), ("a", HALF_OPEN, CLOSED)]


def test_probe_failure_reopens_with_a_fresh_cooldown():
    registry, clock, changes = _registry(threshold=2, cooldown=10.0)
    _trip(registry, "a", 2)
    clock.now += 15.0
    assert registry.allow("a")
    registry.record_failure("a")
    assert registry.state("a") is OPEN
    clock.now += 9.0
    assert registry.allow("a") is False  # cool-down counts from the re-open, not the first open
    clock.now += 1.0
    assert registry.allow("a") is True
    assert changes == [
        ("a", CLOSED, OPEN),
        ("a", OPEN, HALF_OPEN),
        ("a", HALF_OPEN, OPEN),
        ("a", OPEN, HALF_OPEN),
    ]


def test_closed_again_needs_a_full_run_of_failures():
    registry, clock, _ = _registry(threshold=3, cooldown=1.0)
    _trip(registry, "a", 3)
    clock.now += 1.0
    assert registry.allow("a")
    registry.record_success("a")
    _trip(registry, "a", 2)
    assert registry.state("a") is CLOSED


def test_several_probes_when_configured():
    registry, clock, _ = _registry(threshold=1, cooldown=5.0, probes=3)
    _trip(registry, "a", 1)
    clock.now += 5.0
    assert [registry.allow("a") for _ in range(5)] == [True, True, True, False, False]


def test_keys_are_independent():
    registry, _, changes = _registry(threshold=2)
    _trip(registry, "a", 2)
    _trip(registry, "b", 1)
    assert registry.allow("a") is False
    assert registry.allow("b") is True
    assert registry.allow("c") is True
    assert registry.snapshot() == {"a": OPEN, "b": CLOSED, "c": CLOSED}
    assert changes == [("a", CLOSED, OPEN)]


def test_unknown_key_is_closed_and_not_created_by_state():
    registry, _, _ = _registry()
    assert registry.state("never-seen") is CLOSED
    assert registry.snapshot() == {}


def test_late_success_does_not_cut_the_cooldown():
    registry, clock, _ = _registry(threshold=2, cooldown=10.0)
    assert registry.allow("a")  # a slow call admitted while closed...
    _trip(registry, "a", 2)
    registry.record_success("a")  # ...reports success after the breaker opened
    assert registry.state("a") is OPEN
    clock.now += 5.0
    assert registry.allow("a") is False


def test_released_probe_slot_can_be_reused():
    registry, clock, _ = _registry(threshold=1, cooldown=10.0)
    _trip(registry, "a", 1)
    clock.now += 10.0
    assert registry.allow("a")
    registry.release("a")
    assert registry.allow("a")
    assert registry.allow("a") is False


def test_lost_probe_is_replaced_after_another_cooldown():
    registry, clock, changes = _registry(threshold=1, cooldown=10.0)
    _trip(registry, "a", 1)
    clock.now += 10.0
    assert registry.allow("a")  # this probe never reports back
    clock.now += 9.0
    assert registry.allow("a") is False
    clock.now += 1.0
    assert registry.allow("a") is True
    assert registry.state("a") is HALF_OPEN
    assert changes[-1] == ("a", OPEN, HALF_OPEN)


async def test_concurrent_callers_get_one_probe():
    registry, clock, _ = _registry(threshold=1, cooldown=10.0)
    _trip(registry, "a", 1)
    clock.now += 10.0
    release = asyncio.Event()
    outcomes: list[str] = []

    async def call() -> None:
        try:
            async with registry.guard("a"):
                await release.wait()
                outcomes.append("ran")
        except BreakerOpen as exc:
            outcomes.append(f"refused:{exc.key}")

    tasks = [asyncio.create_task(call()) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(outcomes) == ["ran"] + ["refused:a"] * 9
    assert registry.state("a") is CLOSED


async def test_guard_records_failures_and_non_failures():
    registry, _, _ = _registry(threshold=2)

    async def failing(exc: Exception) -> None:
        async with registry.guard("a", is_failure=lambda e: not isinstance(e, KeyError)):
            raise exc

    with pytest.raises(KeyError):
        await failing(KeyError("client error: upstream answered"))
    with pytest.raises(RuntimeError):
        await failing(RuntimeError("upstream down"))
    assert registry.state("a") is CLOSED
    with pytest.raises(RuntimeError):
        await failing(RuntimeError("upstream down"))
    assert registry.state("a") is OPEN
    with pytest.raises(BreakerOpen) as refused:
        await failing(RuntimeError("never runs"))
    assert refused.value.retry_after == pytest.approx(10.0)


async def test_guard_releases_the_probe_on_cancellation():
    registry, clock, _ = _registry(threshold=1, cooldown=10.0)
    _trip(registry, "a", 1)
    clock.now += 10.0
    entered = asyncio.Event()

    async def probe() -> None:
        async with registry.guard("a"):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(probe())
    await entered.wait()
    assert registry.allow("a") is False
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert registry.state("a") is HALF_OPEN
    assert registry.allow("a") is True


def test_config_validation():
    with pytest.raises(ValueError):
        BreakerConfig(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerConfig(half_open_max_probes=0)
