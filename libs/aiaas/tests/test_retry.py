"""retry_async: attempt counting, retryability, deadline, jitter bounds, retry-after hints."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas.resilience import RetryPolicy, retry_after_hint, retry_async


class _Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


class _Fatal(Exception):
    pass


class _Clock:
    """Our own clock: `sleep` advances it and records every delay."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def _failing(times: int, exc_factory=lambda: _Flaky(), result: str = "ok"):
    calls = {"n": 0}

    async def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc_factory()
        return result

    return fn, calls


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Flaky)


async def test_succeeds_after_failures_and_counts_attempts():
    clock = _Clock()
    fn, calls = _failing(2)
    retries: list[tuple[int, str, float]] = []
    policy = RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0, jitter="none")

    result = await retry_async(
        fn,
        policy=policy,
        is_retryable=_retryable,
        on_retry=lambda attempt, exc, delay: retries.append((attempt, type(exc).__name__, delay)),
        sleep=clock.sleep,
        clock=clock,
    )

    assert result == "ok"
    assert calls["n"] == 3
    assert retries == [(1, "_Flaky", 0.1), (2, "_Flaky", 0.2)]
    assert clock.sleeps == [0.1, 0.2]


async def test_gives_up_after_max_attempts_with_last_error():
    clock = _Clock()
    fn, calls = _failing(10)
    with pytest.raises(_Flaky):
        await retry_async(
            fn,
            policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=1.0),
            is_retryable=_retryable,
            sleep=clock.sleep,
            clock=clock,
        )
    assert calls["n"] == 3
    assert len(clock.sleeps) == 2


async def test_non_retryable_error_is_raised_at_once():
    clock = _Clock()
    fn, calls = _failing(5, exc_factory=_Fatal)
    with pytest.raises(_Fatal):
        await retry_async(
            fn, policy=RetryPolicy(max_attempts=5), is_retryable=_retryable, sleep=clock.sleep, clock=clock
        )
    assert calls["n"] == 1
    assert clock.sleeps == []


async def test_never_sleeps_past_the_deadline():
    clock = _Clock(now=0.0)
    fn, calls = _failing(10)
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0, jitter="none")
    # Delays 1, 2, 4 end at t=1, 3, 7; the next (8) would end at 15 >= deadline 10.
    with pytest.raises(_Flaky):
        await retry_async(fn, policy=policy, is_retryable=_retryable, deadline=10.0, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert calls["n"] == 4
    assert clock.now == 7.0


async def test_try_at_deadline_makes_a_last_attempt_at_the_deadline():
    clock = _Clock(now=0.0)
    fn, calls = _failing(10)
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0, jitter="none")
    # Delays 1, 2, 4 end at t=7; the next (8) is cut to the 3 s left: a fifth attempt at t=10, then it gives up.
    with pytest.raises(_Flaky):
        await retry_async(
            fn,
            policy=policy,
            is_retryable=_retryable,
            deadline=10.0,
            try_at_deadline=True,
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]
    assert calls["n"] == 5
    assert clock.now == 10.0


async def test_deadline_already_passed_means_one_attempt():
    clock = _Clock(now=50.0)
    fn, calls = _failing(3)
    with pytest.raises(_Flaky):
        await retry_async(
            fn,
            policy=RetryPolicy(max_attempts=5, base_delay=0.0, jitter="none"),
            is_retryable=_retryable,
            deadline=50.0,
            sleep=clock.sleep,
            clock=clock,
        )
    assert calls["n"] == 1
    assert clock.sleeps == []


async def test_retry_after_hint_raises_the_delay_capped_by_max_delay():
    clock = _Clock()
    hints = iter([0.7, 30.0])
    fn, _ = _failing(2, exc_factory=lambda: _Flaky(retry_after=next(hints)))
    await retry_async(
        fn,
        policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=5.0, jitter="none"),
        is_retryable=_retryable,
        sleep=clock.sleep,
        clock=clock,
    )
    assert clock.sleeps == [0.7, 5.0]


async def test_retry_after_beyond_deadline_gives_up_immediately():
    clock = _Clock(now=0.0)
    fn, calls = _failing(3, exc_factory=lambda: _Flaky(retry_after=4.0))
    with pytest.raises(_Flaky):
        await retry_async(
            fn,
            policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=10.0),
            is_retryable=_retryable,
            deadline=2.0,
            sleep=clock.sleep,
            clock=clock,
        )
    assert calls["n"] == 1
    assert clock.sleeps == []


def test_retry_after_hint_ignores_unusable_values():
    assert retry_after_hint(_Flaky(retry_after=1.5)) == 1.5
    assert retry_after_hint(_Flaky(retry_after=None)) is None
    assert retry_after_hint(_Flaky(retry_after=-1)) is None
    assert retry_after_hint(_Flaky(retry_after=float("nan"))) is None
    assert retry_after_hint(ValueError("no attribute")) is None


def test_full_jitter_is_reproducible_with_a_seeded_rng():
    policy = RetryPolicy(base_delay=0.5, max_delay=10.0)
    first = [policy.delay(n, random.Random(7)) for n in range(6)]
    second = [policy.delay(n, random.Random(7)) for n in range(6)]
    assert first == second
    assert first != [policy.ceiling(n) for n in range(6)]


@given(
    seed=st.integers(0, 2**32),
    attempt=st.integers(0, 60),
    base=st.floats(0.0, 5.0),
    cap=st.floats(0.0, 60.0),
    jitter=st.sampled_from(["full", "equal", "none"]),
)
def test_jitter_stays_within_bounds(seed, attempt, base, cap, jitter):
    policy = RetryPolicy(base_delay=base, max_delay=cap, multiplier=2.0, jitter=jitter)
    ceiling = min(cap, base * 2.0**attempt)
    delay = policy.delay(attempt, random.Random(seed))
    assert policy.ceiling(attempt) == pytest.approx(ceiling)
    assert 0.0 <= delay <= ceiling
    if jitter == "equal":
        assert delay >= ceiling / 2
    if jitter == "none":
        assert delay == ceiling


def test_ceiling_survives_huge_attempt_numbers():
    assert RetryPolicy(base_delay=0.1, max_delay=3.0).ceiling(5000) == 3.0


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter="decorrelated")  # type: ignore[arg-type]
