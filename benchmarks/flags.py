"""Flag propagation latency: control-plane API call -> a running FlagClient sees the new value.

Starts the control plane as its own process, creates a tenant, then flips `streaming_enabled` for that
tenant N times through the admin API while an in-process `aiaas.flags.FlagClient` (what every service
uses) watches the KV bucket. For each flip it records the time from sending the API request to the
client's value changing, and the API call's own latency. Target (issue 5): p99 < 100 ms on this machine.

    python benchmarks/flags.py [--changes 200]

Writes benchmarks/results/flags-<UTC timestamp>.json and flags-latest.json. Needs the infrastructure
URLs in the environment (`make bench` exports them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from aiaas.admin_keys import create_admin_key, revoke_admin_key
from aiaas.db import admin_session, create_engine, session_factory
from aiaas.flags import FlagClient
from aiaas.settings import LOCAL_DEFAULTS
from aiaas.tenancy import create_tenant

RESULTS = Path(__file__).resolve().parent / "results"
FLAG = "streaming_enabled"
# The project-local roles (what `deploy/local/infra.py env` prints) when the variables are unset.
_DB_DEFAULTS = {
    "ADMIN_DATABASE_URL": "postgresql+asyncpg://platform_admin:platform_admin@127.0.0.1:55432/aiaas",
    "MIGRATION_DATABASE_URL": "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"control plane exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310  # nosec B310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready in {timeout_s}s")


async def _admin_key(owner_db: str, name: str, *, revoke: bool = False) -> str:
    """A named admin key for the run (as the database owner), or revoke it afterwards."""
    engine = create_engine(owner_db, pool_size=1)
    try:
        async with admin_session(session_factory(engine)) as session:
            if revoke:
                await revoke_admin_key(session, name)
                return ""
            _, plaintext = await create_admin_key(session, name=name, created_by="benchmarks/flags.py")
            return plaintext
    finally:
        await engine.dispose()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _run(changes: int, base: str, admin_key: str, nats_url: str, admin_db: str) -> dict[str, object]:
    engine = create_engine(admin_db, pool_size=1)
    async with admin_session(session_factory(engine)) as session:
        slug = f"bench-flags-{secrets.token_hex(4)}"
        tenant = await create_tenant(session, name=slug, slug=slug)
    await engine.dispose()
    client = await FlagClient(nats_url, name="bench-flags").start()
    propagation: list[float] = []
    api: list[float] = []
    headers = {"Authorization": f"Bearer {admin_key}"}
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(changes):
                value = i % 2 == 1  # off, on, off, ... (the default is on)
                started = time.perf_counter()
                async with http.put(
                    f"{base}/admin/flags/{FLAG}/tenants/{tenant.id}",
                    json={"value": value, "reason": f"benchmark flip {i}"},
                    headers=headers,
                ) as resp:
                    if resp.status != 200:
                        raise SystemExit(f"API answered {resp.status}: {await resp.text()}")
                api.append(time.perf_counter() - started)
                while client.is_enabled(FLAG, tenant.id, default=True) != value:
                    if time.perf_counter() - started > 5:
                        raise SystemExit(f"change {i} did not reach the client within 5 s")
                    await asyncio.sleep(0.0005)
                propagation.append(time.perf_counter() - started)
            async with http.delete(
                f"{base}/admin/flags/{FLAG}/tenants/{tenant.id}", json={"reason": "benchmark done"}, headers=headers
            ):
                pass
    finally:
        await client.close()
    ms = [v * 1000 for v in propagation]
    api_ms = [v * 1000 for v in api]
    return {
        "changes": changes,
        "propagation_ms": {
            "p50": round(statistics.median(ms), 3),
            "p99": round(_percentile(ms, 99), 3),
            "max": round(max(ms), 3),
            "mean": round(statistics.fmean(ms), 3),
        },
        "api_call_ms": {"p50": round(statistics.median(api_ms), 3), "p99": round(_percentile(api_ms, 99), 3)},
        "target": {"propagation_p99_ms": 100, "pass": _percentile(ms, 99) < 100},
        "measures": "from sending the admin API request to an in-process FlagClient returning the new value",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    env = {key: os.environ.get(key, default) for key, default in {**LOCAL_DEFAULTS, **_DB_DEFAULTS}.items()}
    key_name = f"bench-flags-{secrets.token_hex(4)}"
    admin_key = asyncio.run(_admin_key(env["MIGRATION_DATABASE_URL"], key_name))
    port = _free_port()
    log = (RESULTS / "flags-control-plane.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own service
        [sys.executable, "-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env, "LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/health/ready", proc)
        result = asyncio.run(_run(args.changes, base, admin_key, env["NATS_URL"], env["ADMIN_DATABASE_URL"]))
    finally:
        proc.terminate()
        proc.wait(20)
        asyncio.run(_admin_key(env["MIGRATION_DATABASE_URL"], key_name, revoke=True))
    result = {
        "benchmark": "flag-propagation",
        "timestamp": datetime.now(UTC).isoformat(),
        "load_average_1m": os.getloadavg()[0],
        **result,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(result, indent=2)
    (RESULTS / f"flags-{stamp}.json").write_text(text + "\n")
    (RESULTS / "flags-latest.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
