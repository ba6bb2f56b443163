"""The idle rule: which sockets the sweep closes, and how often it looks."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from realtime.connection.service import idle_since, sweep_interval


@dataclass
class _Socket:
    last_seen: float


def test_sockets_silent_since_before_the_cutoff_are_idle() -> None:
    quiet, recent, exact = _Socket(10.0), _Socket(20.0), _Socket(15.0)
    assert idle_since([quiet, recent, exact], cutoff=15.0) == [quiet]  # type: ignore[list-item]


@given(st.floats(0.01, 1e6))
def test_the_sweep_looks_at_least_four_times_per_timeout_and_every_second(idle_timeout_s: float) -> None:
    every = sweep_interval(idle_timeout_s)
    assert 0 < every <= 1.0
    assert every <= idle_timeout_s / 4
