"""`Rollup`: the counters and sketches of one read-model cell, filled from events or merged from rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ddsketch.ddsketch import BaseDDSketch

from aiaas.events.schemas import UsageRecorded
from analytics.rollups import sketches

__all__ = ["Rollup", "COUNTERS", "TRAFFIC_COUNTERS", "CACHE_HITS"]

# The request and token counters (also the CSV export's first columns, in this order).
TRAFFIC_COUNTERS = ("requests", "succeeded", "errored", "cancelled", "tokens_in", "tokens_out", "cost_usd")
# The additive columns of `analytics_usage_rollups`, named as the fields below.
COUNTERS = (*TRAFFIC_COUNTERS, "cache_hits", "cache_observed", "cache_semantic_hits", "cache_tokens_saved")
_STATUS_COUNTER = {"success": "succeeded", "error": "errored", "cancelled": "cancelled"}
# A usage event's cache_status that means the gateway answered from its cache (no provider call).
CACHE_HITS = frozenset({"exact", "semantic"})


@dataclass
class Rollup:
    requests: int = 0
    succeeded: int = 0
    errored: int = 0
    cancelled: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)  # US dollars at the gateway catalogue prices
    cache_hits: int = 0
    cache_observed: int = 0
    cache_semantic_hits: int = 0
    # Tokens of the cached answers served (what the provider would have been paid for): hits count here,
    # not in tokens_in/tokens_out, which are provider tokens.
    cache_tokens_saved: int = 0
    latency: BaseDDSketch = field(default_factory=sketches.new_sketch)
    ttft: BaseDDSketch = field(default_factory=sketches.new_sketch)

    def add_usage(self, usage: UsageRecorded, cache_hit: bool | None) -> None:
        """Count one usage event (`cache_hit` None: the event said nothing about the cache)."""
        self.requests += 1
        counter = _STATUS_COUNTER[usage.status]
        setattr(self, counter, getattr(self, counter) + 1)
        if usage.cache_status in CACHE_HITS:
            self.cache_tokens_saved += usage.tokens_in + usage.tokens_out
            self.cache_semantic_hits += int(usage.cache_status == "semantic")
        else:
            self.tokens_in += usage.tokens_in
            self.tokens_out += usage.tokens_out
        self.cost_usd += usage.cost_usd
        if cache_hit is not None:
            self.cache_observed += 1
            self.cache_hits += int(cache_hit)
        self.latency.add(usage.latency_ms)
        if usage.ttft_ms is not None:
            self.ttft.add(usage.ttft_ms)

    def add_row(self, row: Any, latency: BaseDDSketch, ttft: BaseDDSketch) -> None:
        """Add a stored row (anything with the COUNTERS attributes) and its decoded sketches."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(row, name))
        self.latency.merge(latency)
        self.ttft.merge(ttft)
