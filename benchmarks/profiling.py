"""Where the gateway's time goes: py-spy samples during a c=64 run, summarised by function and package."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from procs import LOAD_CORE

__all__ = ["start_py_spy", "finish_py_spy", "summarise_collapsed"]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _py_spy() -> str:
    local = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else (shutil.which("py-spy") or "py-spy")


def start_py_spy(pid: int, output: Path, duration_s: int, rate: int = 200, fmt: str = "raw") -> subprocess.Popen:
    """Start `py-spy record` on `pid` (pinned to the load core); `fmt` is raw (collapsed) or flamegraph."""
    argv = [
        "taskset",
        "-c",
        str(LOAD_CORE),
        _py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(duration_s),
        "--rate",
        str(rate),
        "--format",
        fmt,
        # Without pausing the gateway: the blocking sampler cut its throughput by >90 % in trials.
        "--nonblocking",
        "-o",
        str(output),
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_py_spy(proc: subprocess.Popen, timeout_s: float = 60) -> str:
    """Wait for py-spy; raise with its output when it failed."""
    out, _ = proc.communicate(timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {out}")
    return out


def _parse_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["func"], match["file"]


def _package(file: str) -> str:
    """First path component that names a package: 'starlette/routing.py' -> 'starlette'."""
    parts = [p for p in file.replace("\\", "/").split("/") if p]
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "python3.11" in parts:
        parts = ["stdlib:" + "/".join(parts[parts.index("python3.11") + 1 :])[:40]]
    if not parts:
        return "?"
    head = parts[0]
    return head[:-3] if head.endswith(".py") else head


def _is_event_loop(frames: list[tuple[str, str]]) -> bool:
    """Stacks of the thread running the event loop (the others are thread-pool and library threads)."""
    return any(func in ("Runner.run", "asyncio_run", "run_until_complete") for func, _ in frames)


def summarise_collapsed(path: Path, top: int = 15, expected_samples: int | None = None) -> dict:
    """Event-loop thread only: top functions (self, inclusive) and packages (self, inclusive) by samples."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    package_self: Counter[str] = Counter()
    package_inclusive: Counter[str] = Counter()
    loop_total = other_total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parse_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        if not _is_event_loop(frames):
            other_total += count
            continue
        loop_total += count
        func, file = frames[-1]
        self_counts[f"{func} ({file})"] += count
        package_self[_package(file)] += count
        for name in {f"{f} ({fl})" for f, fl in frames}:
            inclusive[name] += count
        for package in {_package(fl) for _, fl in frames}:
            package_inclusive[package] += count

    def table(counter: Counter[str]) -> list[dict]:
        total = max(loop_total, 1)
        return [{"frame": name, "samples": n, "pct": round(100 * n / total, 2)} for name, n in counter.most_common(top)]

    return {
        "event_loop_samples": loop_total,
        "other_thread_samples": other_total,
        # Samples py-spy counted as active over the samples it would take from a thread busy all the time.
        "event_loop_busy_pct": round(100 * loop_total / expected_samples, 1) if expected_samples else None,
        "pct_of": "event-loop thread samples",
        "top_self": table(self_counts),
        "top_inclusive": table(inclusive),
        "packages_self": table(package_self),
        "packages_inclusive": table(package_inclusive),
    }
