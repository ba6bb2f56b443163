"""Results JSON: raw numbers per system, the ratios the targets are stated in, pass/fail per target."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "derive", "write_results", "print_summary"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# (name, how to read it, comparison, limit)
TARGETS = [
    ("rps_gateway_over_passthrough", "(c)/(b) requests/s at c=64, median of alternating rounds", ">=", 0.5),
    ("added_latency_p50_ms", "(c)-(a) p50 latency at c=1", "<=", 1.0),
    ("added_latency_p99_ms", "(c)-(a) p99 latency at c=1", "<=", 5.0),
    ("added_ttft_p50_ms", "(c)-(a) p50 time to first SSE data line, median of alternating rounds", "<=", 1.0),
    ("rss_growth_pct", "gateway RSS growth over the soak, after warm-up", "<", 10.0),
]


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _get(results: dict, *path: str) -> float | None:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return float(node)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def derive(results: dict) -> dict:
    """Ratios and differences between (a) direct, (b) passthrough and (c) gateway."""
    rps = {k: _get(results, k, "rps_c64", "rps") for k in ("direct", "passthrough", "gateway")}
    p50 = {k: _get(results, k, "latency_c1", "p50_ms") for k in rps}
    p99 = {k: _get(results, k, "latency_c1", "p99_ms") for k in rps}
    ttft = {k: _get(results, k, "ttft", "ttft_p50_ms") for k in rps}
    before = _get(results, "gateway", "rss", "after_warmup_mb")
    after = _get(results, "gateway", "rss", "after_soak_mb")
    sequential_ratio = round(rps["gateway"] / rps["passthrough"], 4) if rps["gateway"] and rps["passthrough"] else None
    sequential_ttft = _diff(ttft["gateway"], ttft["direct"])
    # The alternating rounds (run.py `_head_to_head`) are what the targets are judged on when they ran:
    # the sequential figures compare runs minutes apart on a machine whose speed drifts.
    interleaved_ratio = _get(results, "gateway", "head_to_head", "rps_ratio_median")
    interleaved_ttft = _get(results, "gateway", "head_to_head", "added_ttft_p50_ms_median")
    return {
        "rps_gateway_over_passthrough": interleaved_ratio if interleaved_ratio is not None else sequential_ratio,
        "rps_gateway_over_passthrough_sequential": sequential_ratio,
        "rps_passthrough_over_direct": (
            round(rps["passthrough"] / rps["direct"], 4) if rps["passthrough"] and rps["direct"] else None
        ),
        "added_latency_p50_ms": _diff(p50["gateway"], p50["direct"]),
        "added_latency_p99_ms": _diff(p99["gateway"], p99["direct"]),
        "added_ttft_p50_ms": interleaved_ttft if interleaved_ttft is not None else sequential_ttft,
        "added_ttft_p50_ms_sequential": sequential_ttft,
        "passthrough_added_latency_p50_ms": _diff(p50["passthrough"], p50["direct"]),
        "passthrough_added_latency_p99_ms": _diff(p99["passthrough"], p99["direct"]),
        "passthrough_added_ttft_p50_ms": _diff(ttft["passthrough"], ttft["direct"]),
        "gateway_over_passthrough_latency_p50_ms": _diff(p50["gateway"], p50["passthrough"]),
        "rss_growth_pct": round(100 * (after - before) / before, 2) if before and after else None,
    }


def _judge(derived: dict) -> list[dict]:
    verdicts = []
    for name, meaning, op, limit in TARGETS:
        value = derived.get(name)
        if value is None:
            passed = None
        elif op == ">=":
            passed = value >= limit
        elif op == "<=":
            passed = value <= limit
        else:
            passed = value < limit
        verdicts.append({"target": name, "meaning": meaning, "value": value, "limit": f"{op} {limit}", "pass": passed})
    return verdicts


def write_results(results: dict) -> tuple[Path, dict]:
    """Add derived numbers and verdicts; write gateway-<UTC timestamp>.json and latest.json."""
    document = _plain(results)
    document["derived"] = derive(document)
    document["targets"] = _judge(document["derived"])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"gateway-{stamp}.json"
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    path.write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    return path, document


def print_summary(document: dict) -> None:
    """A short human-readable table of the headline numbers."""
    print("\nsystem        rps@c64    p50@c1 ms  p99@c1 ms  ttft p50 ms")
    for key, label in (("direct", "(a) nginx"), ("passthrough", "(b) proxy"), ("gateway", "(c) gateway")):
        row = document.get(key) or {}
        rps = (row.get("rps_c64") or {}).get("rps")
        lat = row.get("latency_c1") or {}
        ttft = (row.get("ttft") or {}).get("ttft_p50_ms")
        print(
            f"{label:<12} {rps or '-':>9}  {lat.get('p50_ms', '-'):>9}  {lat.get('p99_ms', '-'):>9}  "
            f"{ttft if ttft is not None else '-':>11}"
        )
    print()
    for verdict in document.get("targets", []):
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[verdict["pass"]]
        print(f"  {mark}  {verdict['target']:<30} {verdict['value']!s:>10}  (target {verdict['limit']})")
