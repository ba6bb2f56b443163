"""Load generation: wrk (POST bodies via a Lua script, numbers via its `done()` hook) and a TTFT client."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from procs import LOAD_CORE

__all__ = ["Target", "WrkResult", "run_wrk", "measure_ttft", "percentile"]

_MARK = "BENCH_RESULT "

# The done() hook prints exact numbers (microseconds) instead of wrk's rounded text table.
_DONE_HOOK = (
    """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,'
    .. '"mean_us":%.1f,"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
    .. '"timeouts":%d,"non_2xx":%d}\\n',
    '"""
    + _MARK
    + """', summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
"""
)


@dataclass(frozen=True)
class Target:
    """One endpoint to load: base URL, path, JSON body and headers."""

    base_url: str
    path: str
    body: dict
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.path


@dataclass
class WrkResult:
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def _write_script(workdir: Path, targets: list[Target]) -> Path:
    """One target: static request (fastest for wrk). Several: round-robin over pre-formatted requests."""
    lines = []
    if len(targets) == 1:
        target = targets[0]
        lines.append('wrk.method = "POST"')
        lines.append(f"wrk.body = {_lua_string(json.dumps(target.body))}")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        for name, value in target.headers.items():
            lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    else:
        lines.append("local reqs = {}")
        lines.append("local i = 0")
        lines.append("init = function(args)")
        for target in targets:
            headers = {"Content-Type": "application/json", **target.headers}
            pairs = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
            lines.append(
                f"  reqs[#reqs + 1] = wrk.format('POST', {_lua_string(target.path)}, {{{pairs}}}, "
                f"{_lua_string(json.dumps(target.body))})"
            )
        lines.append("end")
        lines.append("request = function() i = i + 1; return reqs[(i % #reqs) + 1] end")
    lines.append(_DONE_HOOK)
    path = workdir / f"wrk-{time.monotonic_ns()}.lua"
    path.write_text("\n".join(lines))
    return path


def run_wrk(
    targets: Target | list[Target], connections: int, duration_s: float, workdir: Path, core: int = LOAD_CORE
) -> WrkResult:
    """Run `wrk -t1` pinned to `core` against the first target's URL (other targets share its host)."""
    targets = targets if isinstance(targets, list) else [targets]
    script = _write_script(workdir, targets)
    argv = [
        "taskset",
        "-c",
        str(core),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        targets[0].url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith(_MARK)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len(_MARK) :])
    seconds = raw["duration_us"] / 1e6
    return WrkResult(
        connections=connections,
        duration_s=round(seconds, 3),
        requests=raw["requests"],
        rps=round(raw["requests"] / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000,
        mean_ms=round(raw["mean_us"] / 1000, 4),
        max_ms=raw["max_us"] / 1000,
        errors={k: raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")},
    )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (pct in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def _ttft_once(http: aiohttp.ClientSession, target: Target) -> tuple[float, float]:
    """Seconds to the first SSE `data:` line, and to the end of the stream."""
    started = time.perf_counter()
    async with http.post(target.url, json=target.body, headers=target.headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{target.url} answered {resp.status}: {(await resp.read())[:300]!r}")
        first = None
        async for line in resp.content:
            if line.startswith(b"data:"):
                first = time.perf_counter()
                break
        if first is None:
            raise RuntimeError(f"{target.url} sent no SSE data line")
        await resp.read()
        return first - started, time.perf_counter() - started


async def _ttft_series(target: Target, count: int, warmup: int) -> dict[str, float | int]:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(warmup):
            await _ttft_once(http, target)
        samples = [await _ttft_once(http, target) for _ in range(count)]
    ttft = [s[0] * 1000 for s in samples]
    total = [s[1] * 1000 for s in samples]
    return {
        "count": count,
        "ttft_p50_ms": round(percentile(ttft, 50), 4),
        "ttft_p90_ms": round(percentile(ttft, 90), 4),
        "ttft_p99_ms": round(percentile(ttft, 99), 4),
        "ttft_mean_ms": round(statistics.fmean(ttft), 4),
        "ttft_min_ms": round(min(ttft), 4),
        "stream_total_p50_ms": round(percentile(total, 50), 4),
    }


def measure_ttft(target: Target, count: int, warmup: int = 20) -> dict[str, float | int]:
    """N sequential streaming requests on one keep-alive connection (client runs on this process's core)."""
    return asyncio.run(_ttft_series(target, count, warmup))
