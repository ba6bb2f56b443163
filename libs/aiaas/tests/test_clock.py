"""aiaas.clock: real time plus an offset, set directly or anchored once from an instant and inherited."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from aiaas import clock
from aiaas.events import EventEnvelope

_CHILD = "from aiaas import clock; print(clock.offset_s(), clock.now().isoformat())"


@pytest.fixture(autouse=True)
def _no_clock_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The suite may run with a shifted clock: each test starts from a clean slate and sets its own.
    monkeypatch.delenv(clock.OFFSET_ENV, raising=False)
    monkeypatch.delenv(clock.AT_ENV, raising=False)
    clock.reset()
    yield
    clock.reset()  # the process reads its own environment again once monkeypatch restored it


def _setenv(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Set a clock variable in-process: the offset is read once per process, so the clock re-reads it."""
    monkeypatch.setenv(name, value)
    clock.reset()


def _child(env: dict[str, str]) -> tuple[float, datetime]:
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    return float(out[0]), datetime.fromisoformat(out[1])


def test_unset_is_the_real_clock_in_utc() -> None:
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)
    assert clock.offset_s() == 0.0


def test_offset_moves_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _setenv(monkeypatch, clock.OFFSET_ENV, "-86400.5")
    before = datetime.now(UTC) - timedelta(seconds=86400.5)
    now = clock.now()
    assert before <= now <= datetime.now(UTC) - timedelta(seconds=86400.5)
    assert clock.offset_s() == -86400.5


def test_at_anchors_once_and_writes_the_offset_back(monkeypatch: pytest.MonkeyPatch) -> None:
    _setenv(monkeypatch, clock.AT_ENV, "2028-02-29T23:59:59Z")
    first = clock.now()
    assert abs(first - datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)) < timedelta(seconds=1)
    offset = float(os.environ[clock.OFFSET_ENV])
    assert clock.offset_s() == offset
    # Later reads advance with real time from the anchor instead of starting again at the instant.
    later = clock.now()
    assert first <= later < first + timedelta(seconds=1)
    assert later.date().isoformat() in ("2028-02-29", "2028-03-01")


def test_a_child_process_inherits_the_offset_not_the_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    _setenv(monkeypatch, clock.AT_ENV, "2026-12-31T23:59:59Z")
    offset = clock.offset_s()
    child_offset, child_now = _child(dict(os.environ))
    assert child_offset == offset  # exactly: parent and children agree far below the millisecond
    assert abs(child_now - clock.now()) < timedelta(seconds=30)  # the child's start-up time, no more


def test_a_child_given_only_the_instant_anchors_it_itself() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIAAS_CLOCK_")}
    child_offset, child_now = _child({**env, clock.AT_ENV: "2028-02-29T23:59:59+00:00"})
    assert abs(child_now - datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)) < timedelta(seconds=5)
    assert child_offset > 0


def test_the_offset_wins_over_the_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    _setenv(monkeypatch, clock.AT_ENV, "2030-01-01T00:00:00Z")
    _setenv(monkeypatch, clock.OFFSET_ENV, "60")
    assert clock.offset_s() == 60.0
    assert clock.now().year < 2030


@pytest.mark.parametrize("value", ["2028-02-29T23:59:59", "not a date"])
def test_an_instant_without_offset_or_unparsable_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    _setenv(monkeypatch, clock.AT_ENV, value)
    with pytest.raises(ValueError):
        clock.now()
    assert clock.OFFSET_ENV not in os.environ


def test_event_envelopes_are_stamped_by_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _setenv(monkeypatch, clock.AT_ENV, "2028-02-29T23:59:59Z")
    envelope = EventEnvelope(id=uuid.uuid4(), type="test.clock", tenant_id=uuid.uuid4(), data={})
    assert abs(envelope.occurred_at - datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)) < timedelta(seconds=1)
