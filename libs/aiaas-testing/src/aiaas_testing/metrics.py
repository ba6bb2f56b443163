"""Prometheus scraping for tests: every sample a metrics listener serves, and sums over labels."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["metric_value", "scrape_metrics"]


async def scrape_metrics(url: str) -> list[Sample]:
    """Every sample a metrics listener serves (`url`: `http://host:port`, with or without `/metrics`)."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
        text = await resp.text()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric_value(samples: Sequence[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
