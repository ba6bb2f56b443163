"""The pure rules of the read models: UTC buckets, and in-memory rollups that sum to the events they count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from aiaas.events.schemas import UsageRecorded
from aiaas_testing.events import usage_recorded
from analytics.rollups.buckets import EARLIEST, GRANULARITIES, LATEST, STEP, Granularity, as_utc, ceil, floor
from analytics.rollups.service import aggregate_usage, usage_of

moments = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=LATEST.replace(tzinfo=None) - timedelta(days=2),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
granularities = st.sampled_from(GRANULARITIES)
KEYS = [uuid.UUID(int=i) for i in range(1, 4)]


def test_floor_and_ceil_examples() -> None:
    moment = datetime(2026, 3, 2, 10, 17, 42, 5, tzinfo=UTC)
    assert floor(moment, "minute") == datetime(2026, 3, 2, 10, 17, tzinfo=UTC)
    assert floor(moment, "hour") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert floor(moment, "day") == datetime(2026, 3, 2, tzinfo=UTC)
    assert ceil(moment, "hour") == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert ceil(datetime(2026, 3, 2, tzinfo=UTC), "day") == datetime(2026, 3, 2, tzinfo=UTC)
    # A naive moment is taken to be UTC already.
    assert as_utc(datetime(2026, 3, 2, 10)) == datetime(2026, 3, 2, 10, tzinfo=UTC)


@given(moments, granularities)
def test_a_moment_lies_in_its_bucket(moment: datetime, granularity: Granularity) -> None:
    start = floor(moment, granularity)
    assert start.tzinfo == UTC
    assert start <= moment < start + STEP[granularity]
    assert floor(start, granularity) == start


@given(moments, granularities)
def test_ceil_is_the_first_boundary_at_or_after(moment: datetime, granularity: Granularity) -> None:
    end = ceil(moment, granularity)
    assert moment <= end < moment + STEP[granularity]
    assert floor(end, granularity) == end


TENANT = uuid.UUID(int=99)
Status = Literal["success", "error", "cancelled"]


def _usage(
    started_at: datetime, model: str, key: uuid.UUID, tokens_in: int, cents: int, status: Status, hit: bool | None
) -> tuple[UsageRecorded, bool | None]:
    """A usage event as the projection reads it (`usage_of`), built by the shared factory."""
    event = usage_recorded(
        TENANT,
        key,
        model=model,
        status=status,
        tokens_in=tokens_in,
        cost_usd=format(Decimal(cents) / 100, "f"),
        latency_ms=10.0 + tokens_in,
        started_at=started_at,
        extra=None if hit is None else {"cache_hit": hit},
    )
    return usage_of(event)


usages = st.lists(
    st.builds(
        _usage,
        moments,
        st.sampled_from(["chat", "embed"]),
        st.sampled_from(KEYS),
        st.integers(0, 10_000),
        st.integers(0, 1_000),
        st.sampled_from(["success", "error", "cancelled"]),
        st.booleans() | st.none(),
    ),
    max_size=30,
)


@given(usages)
def test_every_granularity_sums_to_the_events(parsed: list[tuple[UsageRecorded, bool | None]]) -> None:
    cells = aggregate_usage(parsed)
    events = [usage for usage, _ in parsed]
    for granularity in GRANULARITIES:
        mine = [cell for key, cell in cells.items() if key[0] == granularity]
        assert sum(cell.requests for cell in mine) == len(events)
        assert sum(cell.succeeded + cell.errored + cell.cancelled for cell in mine) == len(events)
        assert sum(cell.tokens_in for cell in mine) == sum(e.tokens_in for e in events)
        assert sum((cell.cost_usd for cell in mine), Decimal(0)) == sum((e.cost_usd for e in events), Decimal(0))
        assert sum(cell.cache_observed for cell in mine) == sum(hit is not None for _, hit in parsed)
        assert sum(cell.cache_hits for cell in mine) == sum(hit is True for _, hit in parsed)
        assert sum(cell.latency.count for cell in mine) == len(events)
    for (granularity, bucket, model, key), cell in cells.items():
        assert bucket == floor(bucket, granularity)
        assert cell.requests == sum(
            1 for e in events if (floor(e.started_at, granularity), e.model_alias, e.api_key_id) == (bucket, model, key)
        )
