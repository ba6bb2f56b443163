"""CSV export of a report's series: a header row, then one row per bucket with data."""

from __future__ import annotations

import csv
import io

from analytics.kpis.schemas import KpiReport
from analytics.rollups.rollup import TRAFFIC_COUNTERS

__all__ = ["CSV_COLUMNS", "report_csv"]

CSV_COLUMNS = (
    "bucket",
    *TRAFFIC_COUNTERS,
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "cache_hit_rate",
    "cache_hits",
    "cache_semantic_hits",
    "cache_tokens_saved",
)


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def report_csv(report: KpiReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for point in report.series:
        lat, ttft = point.latency_ms, point.ttft_ms
        values = (
            point.bucket.isoformat(),
            point.requests,
            point.succeeded,
            point.errored,
            point.cancelled,
            point.tokens_in,
            point.tokens_out,
            format(point.cost_usd, "f"),
            point.error_rate,
            lat.p50,
            lat.p95,
            lat.p99,
            ttft.p50,
            ttft.p95,
            ttft.p99,
            point.cache_hit_rate,
            point.cache_hits,
            point.cache_semantic_hits,
            point.cache_tokens_saved,
        )
        writer.writerow([_cell(v) for v in values])
    return out.getvalue()
