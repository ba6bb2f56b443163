"""Sketches: codec round trip, exact merges, and percentiles within the documented 1 % of numpy's."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.rollups import sketches

ALPHA = sketches.RELATIVE_ACCURACY
QUANTILES = (0.5, 0.95, 0.99)


def _within(estimate: float, values: np.ndarray, q: float) -> None:
    """DDSketch returns the value at rank floor(q*(n-1)) (numpy's "lower") within ALPHA, relatively."""
    truth = float(np.percentile(values, q * 100, method="lower"))
    assert abs(estimate - truth) <= ALPHA * truth + 1e-9, (q, estimate, truth)


def test_round_trip_and_merge_are_exact():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.lognormal(4, 1.2, 4000), np.zeros(10)])
    whole = sketches.new_sketch()
    parts = [sketches.new_sketch() for _ in range(7)]
    for i, v in enumerate(values):
        whole.add(float(v))
        parts[i % 7].add(float(v))
    merged = sketches.merge_all(sketches.decode(sketches.encode(p)) for p in parts)
    assert merged.count == whole.count == len(values)
    assert sketches.encode(merged) == sketches.encode(whole)
    assert sketches.quantiles(merged) == sketches.quantiles(whole)
    for q, est in zip(QUANTILES, sketches.quantiles(merged), strict=True):
        _within(est, values, q)
    assert sketches.quantiles(sketches.decode(sketches.encode(sketches.new_sketch()))) == [None, None, None]


@pytest.mark.parametrize("raw", [b"", b"DDS", b"XYZ" + bytes(40), sketches.encode(sketches.new_sketch()) + b"\x00"])
def test_decode_rejects_foreign_bytes(raw):
    with pytest.raises(ValueError):
        sketches.decode(raw)


async def test_api_percentiles_match_numpy_on_skewed_data(h, http, stack, publish, make_tenant):
    """Thousands of lognormal latencies (a long tail) spread over many rows, merged on read."""
    tenant = await make_tenant()
    rng = random.Random(11)
    base = datetime(2026, 4, 1, tzinfo=UTC)
    latencies = [rng.lognormvariate(5.5, 1.1) for _ in range(3000)]
    ttfts = [lat * rng.uniform(0.02, 0.4) for lat in latencies[:2000]]
    events = [
        h.usage_event(
            tenant.id,
            tenant.key_id,
            base + timedelta(minutes=rng.randrange(0, 6 * 60)),
            model=rng.choice(["chat", "claude"]),
            latency_ms=lat,
            ttft_ms=ttfts[i] if i < len(ttfts) else None,
        )
        for i, lat in enumerate(latencies)
    ]
    await publish(events)
    for granularity in ("minute", "hour"):
        status, body = await h.get_json(
            http,
            f"{stack.api_url}/v1/analytics/kpis",
            tenant.auth,
            start=base,
            end=base + timedelta(hours=6),
            granularity=granularity,
        )
        assert status == 200
        totals = body["totals"]
        assert totals["requests"] == 3000
        for q, name in zip(QUANTILES, ("p50", "p95", "p99"), strict=True):
            _within(totals["latency_ms"][name], np.array(latencies), q)
            _within(totals["ttft_ms"][name], np.array(ttfts), q)
        # One model's percentiles come from its own rows only.
        claude = next(m for m in body["top_models"] if m["model"] == "claude")
        claude_lat = np.array(
            [lat for ev, lat in zip(events, latencies, strict=True) if ev.data["model_alias"] == "claude"]
        )
        _within(claude["latency_ms"]["p95"], claude_lat, 0.95)
