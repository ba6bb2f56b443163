"""The query parameters of every KPI endpoint and their validation (bad input -> 4xx, never a 500)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from aiaas.errors import BadRequest
from analytics.rollups.buckets import EARLIEST, LATEST, MAX_RANGE, Granularity, as_utc, ceil, floor

__all__ = ["KpiQuery", "KpiQueryDep"]

# Printable text without control characters (Postgres rejects NUL in text).
_MODEL_PATTERN = r"^[^\x00-\x1f\x7f]+$"


@dataclass(frozen=True)
class KpiQuery:
    """A validated range, whole buckets: `start` floored and `end` ceiled to the granularity."""

    start: datetime
    end: datetime
    granularity: Granularity
    model: str | None
    api_key_id: uuid.UUID | None


def _utc(moment: datetime, param: str) -> datetime:
    value: datetime | None
    try:
        value = as_utc(moment)
    except OverflowError:
        value = None
    if value is None or not EARLIEST <= value < LATEST:
        raise BadRequest(
            f"'{param}' must lie between {EARLIEST.date()} and {LATEST.date()}.", code="out_of_range", param=param
        )
    return value


def kpi_query(
    start: Annotated[datetime, Query(description="Range start (ISO 8601; no offset = UTC), inclusive")],
    end: Annotated[datetime, Query(description="Range end (ISO 8601; no offset = UTC), exclusive")],
    granularity: Annotated[Granularity, Query()] = "hour",
    model: Annotated[str | None, Query(min_length=1, max_length=200, pattern=_MODEL_PATTERN)] = None,
    api_key_id: Annotated[uuid.UUID | None, Query()] = None,
) -> KpiQuery:
    begin, finish = _utc(start, "start"), _utc(end, "end")
    if begin >= finish:
        raise BadRequest("'start' must be before 'end'.", code="invalid_range", param="start")
    if finish - begin > MAX_RANGE[granularity]:
        raise BadRequest(
            f"A {granularity} range may span at most {MAX_RANGE[granularity]}; use a coarser granularity.",
            code="range_too_large",
            param="end",
        )
    return KpiQuery(floor(begin, granularity), ceil(finish, granularity), granularity, model, api_key_id)


KpiQueryDep = Annotated[KpiQuery, Depends(kpi_query)]
