"""`make bench`: (a) nginx direct, (b) a FastAPI+aiohttp pass-through, (c) the gateway with every feature on.

    .venv/bin/python benchmarks/run.py [--duration-s 10] [--soak-s 300] [--quick]

The load generator and this script run on core 0, the server under test on core 1.
Results: benchmarks/results/gateway-<UTC timestamp>.json and benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
from environment import describe_environment
from gateway_stack import (
    GatewayRun,
    count_metered_rows,
    infra_env,
    prepare_database,
    purge_bench_events,
    start_gateway,
    summarise_log,
)
from load import Target, WrkResult, measure_ttft, run_wrk
from nginx_upstream import JSON_PATH, SSE_PATH, start_nginx
from procs import LOAD_CORE, SERVER_CORE, ProcessSet, free_port, pin_self, require_tools, wait_http
from profiling import finish_py_spy, start_py_spy, summarise_collapsed
from report import RESULTS_DIR, print_summary, write_results

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CHAT_BODY = {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
STREAM_BODY = {**CHAT_BODY, "model": "bench-stream", "stream": True}
SYSTEMS = ("direct", "passthrough", "gateway")


@dataclass(frozen=True)
class Plan:
    """How long each phase runs."""

    duration_s: float
    warmup_s: float
    soak_s: float
    ttft_count: int
    profile_s: int
    rss_sample_every_s: float
    gateway_warmup_s: float
    rounds: int = 6
    round_s: float = 5.0


def _plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(
            duration_s=3,
            warmup_s=1,
            soak_s=args.soak_s if args.soak_given else 15,
            ttft_count=50,
            profile_s=3,
            rss_sample_every_s=2,
            gateway_warmup_s=3,
            rounds=2,
            round_s=2,
        )
    return Plan(
        duration_s=args.duration_s,
        warmup_s=args.warmup_s,
        soak_s=args.soak_s,
        ttft_count=args.ttft_count,
        profile_s=args.profile_s,
        rss_sample_every_s=10,
        gateway_warmup_s=max(10, args.warmup_s),
        rounds=args.rounds,
        round_s=args.round_s,
    )


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _check(target: Target) -> None:
    """One request must succeed before we measure; an SSE target must end with [DONE]."""
    request = urllib.request.Request(
        target.url,
        data=json.dumps(target.body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **target.headers},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        body = resp.read().decode()
    if target.body.get("stream"):
        if "data: [DONE]" not in body:
            raise RuntimeError(f"{target.url}: stream did not end with [DONE]: {body[:300]}")
    elif "choices" not in json.loads(body):
        raise RuntimeError(f"{target.url}: not a chat.completion: {body[:300]}")


class Counter:
    """Completed requests sent to one system (for the metering check)."""

    def __init__(self) -> None:
        self.completed = 0

    def wrk(self, targets: Target | list[Target], connections: int, duration_s: float, workdir: Path) -> WrkResult:
        result = run_wrk(targets, connections, duration_s, workdir)
        self.completed += result.requests - result.errors["non_2xx"]
        if not result.ok:
            _say(f"  WARNING errors during wrk c={connections}: {result.errors}")
        return result


def _cpu_seconds(pid: int) -> float:
    """User+system CPU of `pid` and its children (nginx's worker is a child of its master)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def measure_system(
    name: str, chat: Target, stream: Target, plan: Plan, workdir: Path, sent: Counter, server_pid: int
) -> dict:
    """rps at c=64 (with the server's CPU use), latency at c=1, TTFT; each after its own warm-up."""
    _check(chat)
    _check(stream)
    sent.wrk(chat, 64, plan.warmup_s, workdir)
    _say(f"{name}: requests/s at c=64 for {plan.duration_s:.0f}s")
    cpu_before, wall_before = _cpu_seconds(server_pid), time.monotonic()
    rps = sent.wrk(chat, 64, plan.duration_s, workdir)
    # Well under 100 % while requests queue means the server waits on something rather than computes.
    cpu_pct = round(100 * (_cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - wall_before), 1)
    _say(f"  {rps.rps:.0f} rps, p50 {rps.p50_ms:.3f} ms, p99 {rps.p99_ms:.3f} ms, server CPU {cpu_pct}%")
    sent.wrk(chat, 1, plan.warmup_s, workdir)
    _say(f"{name}: latency at c=1 for {plan.duration_s:.0f}s")
    latency = sent.wrk(chat, 1, plan.duration_s, workdir)
    _say(f"  p50 {latency.p50_ms:.3f} ms, p99 {latency.p99_ms:.3f} ms ({latency.rps:.0f} rps)")
    _say(f"{name}: TTFT over {plan.ttft_count} sequential streams")
    ttft = measure_ttft(stream, plan.ttft_count, warmup=20)
    sent.completed += plan.ttft_count + 20 + 1
    _say(f"  TTFT p50 {ttft['ttft_p50_ms']:.3f} ms, p99 {ttft['ttft_p99_ms']:.3f} ms")
    return {"rps_c64": rps, "server_cpu_pct_c64": cpu_pct, "latency_c1": latency, "ttft": ttft}


def run_direct(upstream: str, nginx_pid: int, plan: Plan, workdir: Path) -> dict:
    chat, stream = Target(upstream, JSON_PATH, CHAT_BODY), Target(upstream, SSE_PATH, STREAM_BODY)
    return measure_system("(a) nginx direct", chat, stream, plan, workdir, Counter(), nginx_pid)


def _start_passthrough(procs: ProcessSet, upstream: str) -> tuple[subprocess.Popen, Target, Target]:
    port = free_port()
    proc, log = procs.start(
        "passthrough",
        [PYTHON, str(HERE / "passthrough_proxy.py"), "--port", str(port), "--upstream", upstream],
        SERVER_CORE,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health", timeout_s=30, proc=proc, log=log)
    return proc, Target(base, JSON_PATH, CHAT_BODY), Target(base, SSE_PATH, STREAM_BODY)


def run_passthrough(procs: ProcessSet, upstream: str, plan: Plan, workdir: Path) -> dict:
    proc, chat, stream = _start_passthrough(procs, upstream)
    try:
        result = measure_system("(b) passthrough", chat, stream, plan, workdir, Counter(), proc.pid)
        result["rss_mb"] = round(psutil.Process(proc.pid).memory_info().rss / 2**20, 2)
        return result
    finally:
        procs.stop(proc)


def _head_to_head(
    procs: ProcessSet, upstream: str, gateway: tuple[Target, Target], plan: Plan, workdir: Path, sent: Counter
) -> dict:
    """(b) against (c) and (a) against (c), alternately, in `plan.rounds` short rounds.

    The sequential measurements above take each system minutes apart, and this machine's speed drifts
    by tens of percent over minutes; a ratio of two runs seconds apart, in alternating order (b c, c b,
    ...), cancels most of that drift. The targets are judged on the medians of these per-round figures.
    """
    gw_chat, gw_stream = gateway
    direct_stream = Target(upstream, SSE_PATH, STREAM_BODY)
    proc, pt_chat, _ = _start_passthrough(procs, upstream)
    ttft_count = max(50, plan.ttft_count // 3)
    rounds: list[dict] = []
    try:
        _check(pt_chat)
        run_wrk(pt_chat, 64, plan.warmup_s, workdir)
        for number in range(plan.rounds):
            order = ("passthrough", "gateway") if number % 2 == 0 else ("gateway", "passthrough")
            rps: dict[str, float] = {}
            for system in order:
                if system == "gateway":
                    rps[system] = sent.wrk(gw_chat, 64, plan.round_s, workdir).rps
                else:
                    rps[system] = run_wrk(pt_chat, 64, plan.round_s, workdir).rps
            ttft: dict[str, float] = {}
            for system in order:  # direct stands in for passthrough here: the TTFT target is (c) - (a)
                target = gw_stream if system == "gateway" else direct_stream
                ttft["gateway" if system == "gateway" else "direct"] = float(
                    measure_ttft(target, ttft_count, warmup=10)["ttft_p50_ms"]
                )
                if system == "gateway":
                    sent.completed += ttft_count + 10
            rounds.append(
                {
                    "passthrough_rps": rps["passthrough"],
                    "gateway_rps": rps["gateway"],
                    "rps_ratio": round(rps["gateway"] / rps["passthrough"], 4),
                    "direct_ttft_p50_ms": ttft["direct"],
                    "gateway_ttft_p50_ms": ttft["gateway"],
                    "added_ttft_p50_ms": round(ttft["gateway"] - ttft["direct"], 4),
                }
            )
            last = rounds[-1]
            _say(
                f"  round {number + 1}: (c)/(b) {last['rps_ratio']:.3f} ({rps['gateway']:.0f}/{rps['passthrough']:.0f}"
                f" rps), added TTFT {last['added_ttft_p50_ms']:.3f} ms"
            )
    finally:
        procs.stop(proc)
    return {
        "rounds": rounds,
        "round_s": plan.round_s,
        "ttft_streams_per_round": ttft_count,
        "rps_ratio_median": round(statistics.median(r["rps_ratio"] for r in rounds), 4),
        "added_ttft_p50_ms_median": round(statistics.median(r["added_ttft_p50_ms"] for r in rounds), 4),
    }


def _rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 2)


def _profile(gateway: GatewayRun, chat: Target, plan: Plan, workdir: Path, sent: Counter) -> dict:
    """py-spy raw samples (summarised) and a flame graph, each during its own c=64 run."""
    raw = RESULTS_DIR / "profile-gateway.txt"
    svg = RESULTS_DIR / "profile-gateway.svg"
    summary: dict = {
        "tool": "py-spy record --rate 200 --nonblocking",
        "raw": str(raw.relative_to(HERE.parent)),
        "flamegraph": str(svg.relative_to(HERE.parent)),
    }
    for output, fmt in ((raw, "raw"), (svg, "flamegraph")):
        _say(f"(c) gateway: py-spy {fmt} for {plan.profile_s}s during c=64")
        spy = start_py_spy(gateway.pid, output, plan.profile_s, fmt=fmt)
        time.sleep(0.5)
        run = sent.wrk(chat, 64, plan.profile_s + 1, workdir)
        finish_py_spy(spy)
        summary[f"rps_while_sampling_{fmt}"] = run.rps
    summary.update(summarise_collapsed(raw, top=20, expected_samples=200 * plan.profile_s))
    return summary


def _soak(gateway: GatewayRun, mix: list[Target], plan: Plan, workdir: Path, sent: Counter) -> dict:
    """c=64 JSON+SSE mix for soak_s while sampling the gateway's RSS."""
    samples: list[dict] = []
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(sent.wrk, mix, 64, plan.soak_s, workdir)
        while not future.done():
            samples.append({"t_s": round(time.monotonic() - started, 1), "rss_mb": _rss_mb(gateway.pid)})
            try:
                future.result(timeout=plan.rss_sample_every_s)
            except concurrent.futures.TimeoutError:
                continue
        result = future.result()
    samples.append({"t_s": round(time.monotonic() - started, 1), "rss_mb": _rss_mb(gateway.pid)})
    return {"wrk": result, "rss_samples": samples}


def run_gateway(procs: ProcessSet, upstream: str, plan: Plan, workdir: Path, tracing: str) -> dict:
    _say("(c) gateway: infrastructure, bootstrap, migrate")
    env = infra_env()
    prepare_database(env)
    _say("(c) gateway: starting gateway (core 1) and usage writer (core 0)")
    gateway = start_gateway(procs, workdir, env, upstream, tracing=tracing)
    auth = {"Authorization": f"Bearer {gateway.api_key}"}
    chat = Target(gateway.base_url, "/v1/chat/completions", CHAT_BODY, auth)
    stream = Target(gateway.base_url, "/v1/chat/completions", STREAM_BODY, auth)
    sent = Counter()
    _check(chat)
    _check(stream)
    rss_start = _rss_mb(gateway.pid)
    _say(f"(c) gateway: warm-up {plan.gateway_warmup_s:.0f}s (JSON+SSE mix, c=64)")
    sent.wrk([chat, stream], 64, plan.gateway_warmup_s, workdir)
    rss_warm = _rss_mb(gateway.pid)
    result = measure_system("(c) gateway", chat, stream, plan, workdir, sent, gateway.pid)
    if plan.rounds > 0:
        _say(f"(c) gateway: head to head with (b) and (a), {plan.rounds} alternating rounds of {plan.round_s:.0f}s")
        result["head_to_head"] = _head_to_head(procs, upstream, (chat, stream), plan, workdir, sent)
    result["profile"] = _profile(gateway, chat, plan, workdir, sent)
    rss_before_soak = _rss_mb(gateway.pid)
    _say(f"(c) gateway: soak {plan.soak_s:.0f}s at c=64 (JSON+SSE mix), RSS {rss_before_soak} MB")
    soak = _soak(gateway, [chat, stream], plan, workdir, sent)
    rss_after = _rss_mb(gateway.pid)
    _say(f"  soak {soak['wrk'].rps:.0f} rps; RSS {rss_warm} MB after warm-up -> {rss_after} MB after soak")
    result["soak"] = soak["wrk"]
    result["rss"] = {
        "at_start_mb": rss_start,
        "after_warmup_mb": rss_warm,
        "before_soak_mb": rss_before_soak,
        "after_soak_mb": rss_after,
        "soak_s": plan.soak_s,
        "growth_over_soak_only_pct": round(100 * (rss_after - rss_before_soak) / rss_before_soak, 2),
        "samples": soak["rss_samples"],
    }
    _say("(c) gateway: waiting for the usage writer to commit every request")
    rows = count_metered_rows(env, gateway.tenant_id, sent.completed)
    result["metering"] = {
        "requests_completed_2xx": sent.completed,
        "rows_in_requests_table": rows,
        "complete": rows >= sent.completed,
    }
    _say(f"  metered rows {rows} for {sent.completed} completed requests")
    result["metering"]["usage_events_purged_after"] = purge_bench_events(env, gateway.tenant_id)
    logs = ("gateway", "usage-writer")
    result["log_summary"] = {name: summarise_log(workdir / f"{name}.log") for name in logs}
    result["tracing"] = {
        "instrumentation": "on (GATEWAY_TRACING default true)",
        "OTEL_TRACES_EXPORTER": tracing,
    }
    return result


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=10.0, help="each measured wrk run")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="warm-up before each measurement")
    parser.add_argument("--soak-s", type=float, default=None, help="gateway soak for the RSS check (default 300)")
    parser.add_argument("--ttft-count", type=int, default=300, help="sequential streams for TTFT")
    parser.add_argument("--profile-s", type=int, default=10, help="py-spy sampling time")
    parser.add_argument("--rounds", type=int, default=6, help="alternating (b)/(c) rounds; 0 = none")
    parser.add_argument("--round-s", type=float, default=5.0, help="each wrk run of a head-to-head round")
    parser.add_argument("--tracing", default="none", help="OTEL_TRACES_EXPORTER for the gateway")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="subset of direct,passthrough,gateway")
    parser.add_argument("--quick", action="store_true", help="short smoke run of the whole harness (< 2 min)")
    args = parser.parse_args(argv)
    args.soak_given = args.soak_s is not None
    args.soak_s = 300.0 if args.soak_s is None else args.soak_s
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    plan = _plan(args)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if (os.cpu_count() or 1) < 2:
        _say("WARNING: fewer than 2 cores; load generator and server will share a core")
    # SIGTERM must unwind through `finally` so no nginx or gateway is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pin_self(LOAD_CORE)
    require_tools()
    workdir = Path(tempfile.mkdtemp(prefix="aiaas-bench-"))
    procs = ProcessSet(workdir)
    results: dict = {"meta": describe_environment(plan, args), "errors": {}}
    _say(f"work dir {workdir}; plan {plan}")
    try:
        upstream, nginx_pid = start_nginx(procs, workdir, free_port())
        for system in systems:
            try:
                if system == "direct":
                    results["direct"] = run_direct(upstream, nginx_pid, plan, workdir)
                elif system == "passthrough":
                    results["passthrough"] = run_passthrough(procs, upstream, plan, workdir)
                elif system == "gateway":
                    results["gateway"] = run_gateway(procs, upstream, plan, workdir, args.tracing)
                else:
                    raise ValueError(f"unknown system {system!r}")
            except Exception as exc:  # one failing system must not lose the others' numbers
                _say(f"{system} FAILED: {exc}")
                results["errors"][system] = traceback.format_exc()
    finally:
        procs.close()
    _say(f"child logs (nginx, passthrough, gateway, usage writer) kept in {workdir}")
    path, document = write_results(results)
    print_summary(document)
    _say(f"wrote {path} and {RESULTS_DIR / 'latest.json'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
