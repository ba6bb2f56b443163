"""`make bench`, issue 14: the semantic cache, the router and the embedder, on one core, in one run.

    .venv/bin/python benchmarks/cache_router.py [--quick] [--rounds 6] [--sections embedder,cache,router,osschat]

Sections (each its own module; every ratio is between arms measured seconds apart, in alternating rounds, because
this VM's speed swings 3-4x within minutes):
- embedder (`embedder_bench.py`): shipped ONNX (fp32 MatMuls) vs int8 MatMuls: encode time, agreement;
- cache (`cache_bench.py`): exact hit rps vs the zero-delay simulator; a semantic miss's added p50 vs encode;
- router (`router_bench.py`): decide p50 with the embedding supplied; what `model: "auto"` adds;
- osschat (`osschat_replay.py`): a 2,000-request Zipf stream through the gateway: hit rate, precision, tokens saved.

Writes benchmarks/results/cache_router-<UTC stamp>.json and cache_router-latest.json: raw figures per round,
medians, and `targets` (value, limit, pass; pass null = not measured, with the reason in `missing`).
A measurement, not a test: the exit status is 0 whenever the JSON was written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procs import LOAD_CORE, SERVER_CORE, ProcessSet, pin_self, require_tools
from report import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("embedder", "cache", "router", "osschat")

# (name, meaning, path in the document, comparison, limit or path of the limit)
TARGETS: list[tuple[str, str, tuple[str, ...], str, float | tuple[str, ...]]] = [
    (
        "exact_hit_rps_over_simulator",
        "exact cache hit requests/s / same request through the zero-delay simulator (c=64, median of rounds)",
        ("cache", "exact_hit", "ratio_median"),
        ">=",
        1.0,
    ),
    (
        "semantic_miss_added_p50_ms",
        "a semantic miss's added p50 (pgvector and store included) <= 1.3 x the embedder's encode p50 + 2 ms",
        ("cache", "semantic_miss", "added_p50_ms_median"),
        "<=",
        ("cache", "semantic_miss", "limit_ms"),
    ),
    (
        "decide_p50_ms",
        "router decide p50 with the embedding in the body (c=1, median of rounds)",
        ("router", "auto", "decide_p50_ms_median"),
        "<=",
        3.0,
    ),
    (
        "auto_added_p50_ms",
        "model 'auto' minus the fixed alias, p50 at c=1, cache-on tenant <= decide p50 + 1 ms",
        ("router", "auto", "added_cache_on_ms_median"),
        "<=",
        ("router", "auto", "limit_ms"),
    ),
]


def _say(message: str) -> None:
    print(f"[cache-router {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _get(document: dict, path: tuple[str, ...]) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node


def judge(document: dict) -> list[dict]:
    verdicts = []
    for name, meaning, path, op, limit_spec in TARGETS:
        value = _get(document, path)
        limit = _get(document, limit_spec) if isinstance(limit_spec, tuple) else limit_spec
        passed = None
        if value is not None and limit is not None:
            passed = value >= limit if op == ">=" else value <= limit
        verdicts.append({"target": name, "meaning": meaning, "value": value, "limit": f"{op} {limit}", "pass": passed})
    return verdicts


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip()


def _meta(args: argparse.Namespace) -> dict:
    return {
        "started": datetime.now(UTC).isoformat(),
        "commit": _git("rev-parse", "HEAD"),
        "dirty_files": len(_git("status", "--porcelain").splitlines()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
        "pinning": {"server_core": SERVER_CORE, "load_core": LOAD_CORE},
        "plan": {k: v for k, v in vars(args).items()},
    }


def _missing_pieces() -> list[str]:
    missing = []
    for module, what in (
        ("aiaas_embedder", "the embedder (aiaas_embedder)"),
        ("gateway.cache", "the gateway cache (services/gateway/gateway/cache)"),
        ("router.app", "the router service (services/router)"),
    ):
        try:
            __import__(module)
        except ImportError as exc:
            missing.append(f"{what}: not importable ({exc})")
    return missing


def _run_section(results: dict, name: str, func: Any, *args: Any) -> Any:
    # The machine is shared: what else was running is part of every figure.
    results.setdefault("load_average_at_start", {})[name] = [round(x, 2) for x in os.getloadavg()]
    try:
        return func(*args)
    except Exception as exc:  # one failing section must not lose the others' numbers
        _say(f"{name} FAILED: {exc}")
        results["errors"][name] = traceback.format_exc()
        return None


def _stack_sections(results: dict, args: argparse.Namespace, workdir: Path) -> None:
    import cache_bench
    import osschat_replay
    import router_bench
    from cache_stack import purge_router_events, start_stack, stop_stack
    from gateway_stack import infra_env, prepare_database, purge_bench_events

    env = infra_env()
    prepare_database(env)
    procs = ProcessSet(workdir)
    stack = None
    try:
        _say("starting simulator (core 0), router + gateway (core 1), tenants, cache flags")
        # One cache-on tenant per use, so that no measurement runs against entries another one left (a fresh
        # tenant for `auto` keeps its two aliases' partitions the same size).
        tenants = {"cache": True, "nocache": False, "osschat": True, "router": True}
        router_core = None if args.router_core == "none" else int(args.router_core)
        stack = start_stack(procs, workdir, env, tenants, router_core)
        results["stack_notes"] = stack.notes
        on, off = stack.tenants["cache"], stack.tenants["nocache"]
        from cache_stack import wait_cache_on

        wait_cache_on(stack, on)
        wait_cache_on(stack, stack.tenants["osschat"])
        wait_cache_on(stack, stack.tenants["router"])
        if "cache" in args.sections:
            cache: dict[str, Any] = {}
            _say(f"exact hit vs simulator: {args.rounds} rounds of {args.round_s}s at c=64")
            cache["exact_hit"] = _run_section(
                results,
                "cache.exact_hit",
                cache_bench.exact_hit_rounds,
                stack,
                on,
                off,
                args.rounds,
                args.round_s,
                workdir,
            )
            _say(f"semantic miss vs cache off vs encode: {args.rounds} rounds of {args.per_round} requests")
            cache["semantic_miss"] = _run_section(
                results,
                "cache.semantic_miss",
                cache_bench.semantic_miss_rounds,
                stack,
                on,
                off,
                args.rounds,
                args.per_round,
            )
            results["cache"] = cache
        if "router" in args.sections:
            if stack.router_url is None:
                results["missing"].append("router: service not installed, decide and auto not measured")
            else:
                _say(f"router: decide without the embedding in the body ({args.decide_s}s, c=1)")
                router: dict[str, Any] = {
                    "decide_router_embeds": _run_section(
                        results,
                        "router.decide_router_embeds",
                        router_bench.measure_decide,
                        stack,
                        stack.tenants["router"],
                        args.decide_s,
                        workdir,
                        False,
                    )
                }
                _say(f"router: decide + auto vs fixed alias, {args.rounds} rounds")
                router["auto"] = _run_section(
                    results,
                    "router.auto",
                    router_bench.auto_rounds,
                    stack,
                    stack.tenants["router"],
                    off,
                    args.rounds,
                    args.per_round,
                    args.decide_s,
                    workdir,
                )
                results["router"] = router
        if "osschat" in args.sections:
            _say(f"OSSChat replay: {args.replay_n} requests, Zipf s=1.1, seed 0")
            results["osschat"] = _run_section(
                results, "osschat", osschat_replay.replay, stack, stack.tenants["osschat"], args.replay_n, 0
            )
    finally:
        if stack is not None:
            stop_stack(env, stack)
        procs.close()
        if stack is not None:
            for tenant in stack.tenants.values():
                try:
                    purge_bench_events(env, tenant.id)
                    purge_router_events(env, tenant.id)
                except Exception as exc:  # best effort: the stream may be gone
                    _say(f"events of {tenant.name} not purged: {exc}")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per comparison")
    parser.add_argument("--round-s", type=float, default=5.0, help="each wrk run of the exact-hit rounds")
    parser.add_argument("--per-round", type=int, default=60, help="c=1 requests per arm per round")
    parser.add_argument("--decide-s", type=float, default=2.0, help="wrk c=1 decide run per round")
    parser.add_argument("--replay-n", type=int, default=2000, help="OSSChat stream length")
    parser.add_argument("--embedder-queries", type=int, default=150, help="texts per variant per round")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument(
        "--router-core", default=str(SERVER_CORE), choices=["0", "1", "none"], help="where the router runs (default: 1)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (< 2 min)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.round_s, args.per_round, args.decide_s = 2, 2.0, 30, 1.0
        args.replay_n, args.embedder_queries = min(args.replay_n, 300), 60
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pin_self(LOAD_CORE)
    require_tools()
    workdir = Path(tempfile.mkdtemp(prefix="aiaas-cache-bench-"))
    results: dict[str, Any] = {"meta": _meta(args), "errors": {}, "missing": _missing_pieces()}
    _say(f"work dir {workdir}; sections {args.sections}")
    if "embedder" in args.sections:
        import embedder_bench

        embed_rounds = max(2, min(4, args.rounds // 2 * 2))
        _say(f"embedder: variants alternating, {embed_rounds} rounds x {args.embedder_queries} queries on core 1")
        results["embedder"] = _run_section(
            results, "embedder", embedder_bench.run, embed_rounds, args.embedder_queries, SERVER_CORE
        )
    if set(args.sections) & {"cache", "router", "osschat"}:
        if any("gateway cache" in m or "embedder" in m for m in results["missing"]):
            results["missing"].append("cache, router and osschat sections skipped: the gateway cache is not in yet")
        else:
            _run_section(results, "stack", _stack_sections, results, args, workdir)
    results["meta"]["finished"] = datetime.now(UTC).isoformat()
    results["targets"] = judge(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2) + "\n"
    path = RESULTS_DIR / f"cache_router-{'quick-' if args.quick else ''}{stamp}.json"
    path.write_text(text)
    if not args.quick:
        (RESULTS_DIR / "cache_router-latest.json").write_text(text)
    for verdict in results["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[verdict["pass"]]
        _say(f"{mark} {verdict['target']:<32} {verdict['value']!s:>10}  (target {verdict['limit']})")
    osschat = results.get("osschat") or {}
    if osschat:
        _say(
            f"OSSChat: hit {osschat['hit_rate']} (exact {osschat['exact_hit_rate']}, semantic "
            f"{osschat['semantic_hit_rate']}), precision {osschat['precision_all_hits']}, provider tokens saved "
            f"{osschat['provider_tokens_saved']} of {osschat['provider_tokens_without_cache']}"
        )
    for line in results["missing"]:
        _say(f"MISSING {line}")
    _say(f"wrote {path}; child logs in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
