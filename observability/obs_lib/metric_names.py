"""Metric names: those a PromQL expression reads, and those the platform's code exports or its rules record.

Why a scan and not a live scrape: a panel or rule on a metric nobody exports shows nothing and alerts
never, silently; this catches a typo offline. The live test (Prometheus against the running stack) is the
final word. The PromQL reading is lexical: label matchers, grouping clauses, strings and durations are
removed first, then identifiers that are not PromQL functions or keywords are metric names.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["exported_metrics", "metrics_in"]

_DECLARED = re.compile(
    r"\b(Counter|PromCounter|Gauge|Histogram|Summary|GaugeMetricFamily|CounterMetricFamily)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\""
)
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "PromCounter": ("_total", "_created"),
    "CounterMetricFamily": ("_total",),
    "Histogram": ("_bucket", "_count", "_sum", "_created"),
    "Summary": ("_count", "_sum", "_created"),
    "Gauge": ("",),
    "GaugeMetricFamily": ("",),
}
# Series Prometheus makes itself, and the process collectors of prometheus_client.
_BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "inf", "nan", "atan2",
}  # fmt: skip
_FUNCTION_CALL = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*)\s*\(")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)")


def exported_metrics(source_roots: list[Path]) -> set[str]:
    names = set(_BUILTIN)
    for root in source_roots:
        for path in root.rglob("*.py"):
            if "/tests/" in str(path) or ".venv" in path.parts:
                continue
            for kind, name in _DECLARED.findall(path.read_text(errors="replace")):
                base = name.removesuffix("_total") if "Counter" in kind else name
                names |= {base + suffix for suffix in _SUFFIXES[kind]}
    return names


def metrics_in(expr: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    functions = set(_FUNCTION_CALL.findall(text))
    names = set()
    for ident in _IDENT.findall(text):
        if ident in functions or ident.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", ident):
            continue
        names.add(ident)
    return names
