"""Realtime benchmark: idle sockets one process holds (memory per socket), then streaming at scale.

    .venv/bin/python benchmarks/realtime.py            # 10,000 idle sockets; 1,000 streaming sockets
    .venv/bin/python benchmarks/realtime.py --quick    # 1,000 idle; 100 streaming, short runs

Runs the real stack as processes on the local infrastructure: provider simulator (model `sim-rt-bench`,
a reply of `--reply-tokens` tokens paced `--token-delay-ms` apart), gateway + usage writer, and one
realtime process; a bench tenant with a key, no practical rate limit or quota. The load generator
(`realtime_client.py`) is a separate process using the `websockets` client.

1. idle: open `--idle-connections` sockets (no compression), each sending an application `ping`
   every `--ping-every-s` (the server also sends protocol pings every 20 s), hold them `--hold-s`,
   then read the realtime process's RSS. Memory per socket = (RSS held - RSS before) / sockets, with
   "before" read after a warm-up round of 200 sockets opened and closed. Kernel socket buffers are
   not in RSS (the kernel accounts them), so the figure is the process's own cost.
2. streaming: `--stream-connections` sockets, each in one conversation: send a message, read every
   delta up to `response.completed`, wait `--think-s`, repeat, for `--duration-s`. Delta latency =
   client receive time - the delta's `ts` (when the realtime service got the text from the gateway),
   so it is the realtime service's own delivery delay (Redis live log, follower, send queue, socket)
   plus the client's scheduling. Measured first with 1 socket (the baseline), then at full count.

Writes benchmarks/results/realtime-<UTC timestamp>.json and realtime-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from gateway_stack import (
    PYTHON,
    ROOT,
    create_bench_tenant,
    infra_env,
    prepare_database,
    set_bench_quota,
    subscribe_unlimited_plan,
)
from procs import ProcessSet, free_port, wait_http

RESULTS = ROOT / "benchmarks" / "results"
CLIENT = str(Path(__file__).resolve().parent / "realtime_client.py")
SIM_MODEL = "sim-rt-bench"
ALIAS = "rt-bench"
KIB = 1024


def _raise_nofile() -> int:
    """Children inherit the limit: 10,000 sockets need more than the default 1,024 descriptors."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Stack:
    """Provider simulator, gateway, usage writer and one realtime process, with a bench tenant + key."""

    def __init__(self, procs: ProcessSet, workdir: Path, env: dict[str, str], args: argparse.Namespace) -> None:
        self.procs = procs
        sim_port, gw_port, rt_port = free_port(), free_port(), free_port()
        profiles = {
            SIM_MODEL: {
                "token_delay_ms": args.token_delay_ms,
                "reply_min_tokens": args.reply_tokens,
                "reply_max_tokens": args.reply_tokens,
            }
        }
        base_env = {**os.environ, **env, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        sim, sim_log = procs.start(
            "provider-sim",
            [PYTHON, "-m", "provider_sim", "--host", "127.0.0.1", "--port", str(sim_port)],
            None,
            env={**base_env, "PROVIDER_SIM_MODELS_JSON": json.dumps(profiles)},
            cwd=workdir,
        )
        wait_http(f"http://127.0.0.1:{sim_port}/health", proc=sim, log=sim_log)
        models = workdir / "models.yaml"
        deployment = {
            "name": "sim",
            "provider": "openai",
            "model": SIM_MODEL,
            "base_url": f"http://127.0.0.1:{sim_port}/v1",
            "input_usd_per_1k": "0.5",
            "output_usd_per_1k": "1.5",
        }
        models.write_text(yaml.safe_dump({"aliases": [{"name": ALIAS, "deployments": [deployment]}]}))
        gw_env = {
            **base_env,
            "GATEWAY_MODELS_FILE": str(models),
            "GATEWAY_USAGE_WRITER_METRICS_PORT": str(free_port()),
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
        }
        procs.start("usage-writer", [PYTHON, "-m", "gateway.usage_writer"], None, env=gw_env, cwd=workdir)
        gateway, gw_log = procs.start(
            "gateway",
            [PYTHON, "-m", "gateway", "--host", "127.0.0.1", "--port", str(gw_port)],
            None,
            env=gw_env,
            cwd=workdir,
        )
        self.gateway_url = f"http://127.0.0.1:{gw_port}"
        wait_http(f"{self.gateway_url}/health/ready", timeout_s=90, proc=gateway, log=gw_log)
        self.gateway_pid = gateway.pid
        self.tenant_id, self.api_key = create_bench_tenant(env, "Bench realtime", "bench-rt", ["chat", "realtime"])
        import asyncio

        asyncio.run(subscribe_unlimited_plan(env, self.tenant_id))
        asyncio.run(set_bench_quota(env["REDIS_URL"], self.tenant_id))
        rt_metrics_port = free_port()
        rt_env = {
            **base_env,
            "REALTIME_METRICS_PORT": str(rt_metrics_port),
            "REALTIME_GATEWAY_URL": self.gateway_url,
            "REALTIME_MAX_CONNECTIONS_PER_TENANT": str(args.idle_connections + args.stream_connections + 500),
            "REALTIME_MAX_INFLIGHT_RESPONSES": str(max(1000, args.stream_connections * 2)),
        }
        realtime, rt_log = procs.start(
            "realtime",
            [PYTHON, "-m", "realtime", "--host", "127.0.0.1", "--port", str(rt_port)],
            None,
            env=rt_env,
            cwd=workdir,
        )
        wait_http(f"http://127.0.0.1:{rt_port}/health/ready", timeout_s=90, proc=realtime, log=rt_log)
        self.realtime = psutil.Process(realtime.pid)
        self.ws_url = f"ws://127.0.0.1:{rt_port}/v1/realtime/ws"
        self.metrics_url = f"http://127.0.0.1:{rt_metrics_port}/metrics"

    def active_sockets(self) -> float | None:
        """The realtime process's own `ws_active_connections` gauge."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as resp:  # noqa: S310  # nosec B310 - loopback
            for line in resp.read().decode().splitlines():
                if line.startswith("ws_active_connections "):
                    return float(line.split()[1])
        return None


def _client(stack: Stack, mode: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own load generator
        [PYTHON, CLIENT, mode, "--url", stack.ws_url, "--key", stack.api_key, *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_event(proc: subprocess.Popen[str], expected: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator exited ({proc.poll()}) before '{expected}'")
        event = json.loads(line)
        if event.get("event") == expected:
            return event
    raise RuntimeError(f"no '{expected}' from the load generator in {timeout_s:.0f}s")


def _idle_round(stack: Stack, connections: int, hold_s: float, ping_every_s: float) -> dict[str, Any]:
    client = _client(
        stack, "idle", "--connections", str(connections), "--hold-s", str(hold_s), "--ping-every-s", str(ping_every_s)
    )
    try:
        opened = _read_event(client, "opened", 600)
        held = _read_event(client, "held", hold_s + 120)
        rss = stack.realtime.memory_info().rss
        cpu = stack.realtime.cpu_times()
        fds = stack.realtime.num_fds()
        assert client.stdin is not None
        client.stdin.write("close\n")
        client.stdin.flush()
        result = _read_event(client, "result", 120)
    finally:
        if client.poll() is None:
            client.wait(60)
    return {"opened": opened, "held": held, "result": result, "rss": rss, "cpu_s": cpu.user + cpu.system, "fds": fds}


def _idle(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    _idle_round(stack, 200, 1, args.ping_every_s)  # warm-up: code paths, pools, allocator arenas
    time.sleep(2)
    before = stack.realtime.memory_info().rss
    held = _idle_round(stack, args.idle_connections, args.hold_s, args.ping_every_s)
    time.sleep(2)
    after_close = stack.realtime.memory_info().rss
    active_after_close = stack.active_sockets()
    opened = held["opened"]["open"]
    per_conn = (held["rss"] - before) / max(1, opened)
    return {
        "target_connections": args.idle_connections,
        "opened": opened,
        "connect_failures": held["opened"]["failed"],
        "connect_s": held["opened"]["connect_s"],
        "alive_after_hold": held["held"]["alive"],
        "hold_s": args.hold_s,
        "app_pings_answered": held["held"]["pongs"],
        "heartbeat_failures": held["held"]["heartbeat_failures"],
        "server_fds_held": held["fds"],
        "rss_before_mib": round(before / KIB / KIB, 1),
        "rss_held_mib": round(held["rss"] / KIB / KIB, 1),
        "rss_after_close_mib": round(after_close / KIB / KIB, 1),
        "ws_active_connections_after_close": active_after_close,
        "kib_per_connection": round(per_conn / KIB, 2),
        "client_cpu_s": held["result"]["client_cpu_s"],
        "target": {
            "connections": 10_000,
            "kib_per_connection": 20,
            "pass": opened >= 10_000 and held["held"]["alive"] >= 10_000 and per_conn < 20 * KIB,
        },
    }


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _stream_round(stack: Stack, connections: int, args: argparse.Namespace) -> dict[str, Any]:
    gateway = psutil.Process(stack.gateway_pid)
    rt0, gw0 = _cpu_s(stack.realtime), _cpu_s(gateway)
    client = _client(
        stack,
        "stream",
        "--connections",
        str(connections),
        "--duration-s",
        str(args.duration_s),
        "--think-s",
        str(args.think_s),
        "--model",
        ALIAS,
    )
    try:
        _read_event(client, "opened", 600)
        result = _read_event(client, "result", args.duration_s + 300)
    finally:
        if client.poll() is None:
            client.wait(60)
    elapsed = max(1e-9, float(result["elapsed_s"]))
    result.pop("event", None)
    result["realtime_cpu_cores"] = round((_cpu_s(stack.realtime) - rt0) / elapsed, 2)
    result["gateway_cpu_cores"] = round((_cpu_s(gateway) - gw0) / elapsed, 2)
    result["realtime_rss_mib"] = round(stack.realtime.memory_info().rss / KIB / KIB, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-connections", type=int, default=10_000)
    parser.add_argument("--hold-s", type=float, default=45)
    parser.add_argument("--ping-every-s", type=float, default=20)
    parser.add_argument("--stream-connections", type=int, default=1_000)
    parser.add_argument("--duration-s", type=float, default=30)
    parser.add_argument("--think-s", type=float, default=1.0)
    parser.add_argument("--token-delay-ms", type=float, default=50)
    parser.add_argument("--reply-tokens", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="1,000 idle, 100 streaming, short runs")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.idle_connections, args.hold_s, args.stream_connections, args.duration_s = 1_000, 5, 100, 8
    nofile = _raise_nofile()
    env = infra_env()
    prepare_database(env)
    workdir = Path(tempfile.mkdtemp(prefix="aiaas-bench-realtime-"))
    procs = ProcessSet(workdir)
    result: dict[str, Any] = {
        "benchmark": "realtime",
        "timestamp": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "nofile": nofile},
        "config": {k: v for k, v in vars(args).items() if k not in ("skip_idle", "skip_stream")},
    }
    try:
        stack = Stack(procs, workdir, env, args)
        if not args.skip_idle:
            print(f"[bench] idle: {args.idle_connections} sockets held {args.hold_s:.0f}s", flush=True)
            result["idle"] = _idle(stack, args)
            print(json.dumps(result["idle"], indent=2), flush=True)
        if not args.skip_stream:
            print("[bench] streaming baseline: 1 socket", flush=True)
            baseline = _stream_round(stack, 1, args)
            print(f"[bench] streaming: {args.stream_connections} sockets for {args.duration_s:.0f}s", flush=True)
            loaded = _stream_round(stack, args.stream_connections, args)
            p99_base = baseline["delta_latency_s"].get("p99_ms")
            p99_load = loaded["delta_latency_s"].get("p99_ms")
            result["streaming"] = {
                "baseline_1_socket": baseline,
                "loaded": loaded,
                "delta_latency_p99_ratio": round(p99_load / p99_base, 2) if p99_base and p99_load else None,
            }
            print(json.dumps(result["streaming"], indent=2), flush=True)
        result["load_average_1m"] = os.getloadavg()[0]
    finally:
        procs.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(result, indent=2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"realtime-{stamp}.json").write_text(text + "\n")
    if not (args.quick or args.skip_idle or args.skip_stream):
        (RESULTS / "realtime-latest.json").write_text(text + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"[bench] wrote {RESULTS / f'realtime-{stamp}.json'}")
    if not sys.stdout.isatty():
        print(text)


if __name__ == "__main__":
    main()
