"""Time buckets: UTC minute, hour and day; flooring, ceiling and the longest range each may cover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

__all__ = ["Granularity", "GRANULARITIES", "STEP", "MAX_RANGE", "EARLIEST", "LATEST", "as_utc", "floor", "ceil"]

Granularity = Literal["minute", "hour", "day"]
GRANULARITIES: tuple[Granularity, ...] = get_args(Granularity)

STEP: dict[Granularity, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
# Longest query range per granularity (bounds the rows read and the series returned).
MAX_RANGE: dict[Granularity, timedelta] = {
    "minute": timedelta(hours=48),
    "hour": timedelta(days=93),
    "day": timedelta(days=400),
}
# Queries outside these instants are rejected (also keeps flooring/ceiling far from datetime's limits).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def floor(moment: datetime, granularity: Granularity) -> datetime:
    """Start of the UTC bucket holding `moment`."""
    moment = as_utc(moment)
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil(moment: datetime, granularity: Granularity) -> datetime:
    """Smallest bucket boundary at or after `moment`."""
    start = floor(moment, granularity)
    return start if start == as_utc(moment) else start + STEP[granularity]
