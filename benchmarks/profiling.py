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


def start_py_spy(
    pid: int, output: Path, duration_s: int, rate: int = 200, fmt: str = "raw"
) -> subprocess.Popen:
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


def summarise_collapsed(path: Path, top: int = 15) -> dict:
    """Top functions by self and inclusive samples, and self samples per package, from py-spy raw output."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parse_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        func, file = frames[-1]
        self_counts[f"{func} ({file})"] += count
        by_package[_package(file)] += count
        for name in {f"{f} ({fl})" for f, fl in frames}:
            inclusive[name] += count

    def table(counter: Counter[str]) -> list[dict]:
        return [
            {"frame": name, "samples": n, "pct": round(100 * n / total, 2)}
            for name, n in counter.most_common(top)
        ]

    return {
        "total_samples": total,
        "top_self": table(self_counts),
        "top_inclusive": table(inclusive),
        "self_by_package": table(by_package),
    }
