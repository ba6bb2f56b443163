"""The one wall clock for business time (periods, closes, alert windows, rollups, event timestamps).

`now()` is the real UTC time plus an offset, so a whole deployment (or a test run and every service
process it starts) can be moved to another date without touching the host clock:

- `AIAAS_CLOCK_OFFSET_S`: seconds (float, may be negative) added to the real clock.
- `AIAAS_CLOCK_AT`: an ISO-8601 instant (e.g. `2028-02-29T23:59:59Z`) the clock reads at first use.
  That first use turns it into an offset against the real clock and writes the offset back to
  `os.environ["AIAAS_CLOCK_OFFSET_S"]`: child processes inherit the offset, not the instant, so they
  agree with their parent to the millisecond instead of each starting again at the instant.
  When both are set, the offset wins (it is what a parent already derived from the instant).

The offset is read once per process (`now()` is on every request's path) and kept; `reset()` makes
the next read take it from the environment again, for tests that change it in-process.

Only durations and timeouts stay on `time.monotonic()`; signature timestamps checked by another
party (Stripe, alert webhooks) stay on `time.time()`, the base both sides share.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

__all__ = ["now", "offset_s", "reset", "OFFSET_ENV", "AT_ENV"]

OFFSET_ENV = "AIAAS_CLOCK_OFFSET_S"
AT_ENV = "AIAAS_CLOCK_AT"


def _parse_instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)  # accepts a trailing 'Z' (Python 3.11+)
    if moment.tzinfo is None:
        raise ValueError(f"{AT_ENV}={value!r} needs a UTC offset, e.g. 2028-02-29T23:59:59Z")
    return moment


class _Offset:
    """The offset read from the environment, as given (seconds) and as a timedelta; None until first read."""

    seconds: float | None = None
    delta: timedelta = timedelta(0)


def _read_offset_s() -> float:
    offset = os.environ.get(OFFSET_ENV, "").strip()
    if offset:
        return float(offset)
    at = os.environ.get(AT_ENV, "").strip()
    if not at:
        return 0.0
    value = (_parse_instant(at) - datetime.now(UTC)).total_seconds()
    os.environ[OFFSET_ENV] = repr(value)
    return value


def offset_s() -> float:
    """Seconds the clock is ahead of the real one (0.0 unless configured); anchors AIAAS_CLOCK_AT once."""
    if _Offset.seconds is None:
        seconds = _read_offset_s()
        _Offset.delta = timedelta(seconds=seconds)
        _Offset.seconds = seconds
    return _Offset.seconds


def reset() -> None:
    """Forget the offset read so far: the next read takes it from the environment again."""
    _Offset.seconds = None
    _Offset.delta = timedelta(0)


def now() -> datetime:
    """The current instant (aware, UTC) on the platform's clock."""
    moment = datetime.now(UTC)
    return moment + _Offset.delta if offset_s() else moment
