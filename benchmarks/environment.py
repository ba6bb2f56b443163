"""What the numbers were measured on: machine, versions, pinning, durations."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from procs import LOAD_CORE, SERVER_CORE

__all__ = ["describe_environment"]

ROOT = Path(__file__).resolve().parents[1]


def _command_output(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    found = {}
    for dist in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "aiohttp",
        "pydantic",
        "redis",
        "nats-py",
        "sqlalchemy",
        "asyncpg",
        "opentelemetry-sdk",
        "prometheus-client",
        "orjson",
    ):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def describe_environment(plan: object, args: object) -> dict:
    """Facts that make a result file comparable with another one."""
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _command_output(["git", "-C", str(ROOT), "rev-parse", "HEAD"]),
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "nginx": _command_output(["nginx", "-v"]),
        "wrk": _command_output(["wrk", "-v"]),
        "packages": _versions(),
        "plan": dataclasses.asdict(plan)
        if dataclasses.is_dataclass(plan) and not isinstance(plan, type)
        else str(plan),
        "quick": bool(getattr(args, "quick", False)),
        "pinning": {
            "load_generator_core": LOAD_CORE,
            "server_under_test_core": SERVER_CORE,
            "nginx_upstream_core": SERVER_CORE,
            "usage_writer_core": LOAD_CORE,
            "orchestrator_and_ttft_client_core": LOAD_CORE,
            "postgres_nats_redis": "not pinned (started by deploy/local/infra.py)",
        },
        "server": "one uvicorn worker, uvloop + httptools, access log off (passthrough and gateway alike)",
        "load_generator": "wrk -t1 (LuaJIT script posts the body; exact percentiles from its done() hook)",
        "upstream": "nginx worker_processes 1, `return 200` fixed JSON and SSE bodies",
    }
