"""Orchestrator benchmark (issue 15): episode overhead and checkpoint cost.

    .venv/bin/python benchmarks/orchestrator.py            # 300 sequential episodes per arm, c=16 for 20 s
    .venv/bin/python benchmarks/orchestrator.py --quick    # 60 episodes, c=16 for 6 s

Episode overhead:
  (a) bare LangGraph: 4 trivial nodes on `AsyncPostgresSaver`, durability sync, a pooled connection per episode,
      tables without RLS (a scratch schema the owner creates with the saver's own `setup()`, dropped at the end);
  (b) the same four steps through the orchestrator: a run row, `orch.run.requested` on JetStream (a private NATS),
      `python -m orchestrator work` (benchmarks/orchestrator_worker.py adds the 4-node `bench` graph: prepare ->
      lookup, one ledger tool call `orders.get` on the toolbox -> think, one model call through the gateway to the
      zero-latency provider simulator -> finish), checkpoints under RLS, the outcome committed with its outbox event;
      an episode ends when this script receives the run's `orch.run.completed`.
  p50 at c=1 (sequential), episodes/s with 16 in flight. Targets: (b) p50 <= 2x (a) and <= (a) + 25 ms; (b) eps
  >= 0.5x (a). (a) and (b) run side by side once the stack is up (after a c=16 warm-up of each): sequential blocks
  of 25 alternated, then c=16 windows alternated (2 x seconds/2 each), so the VM's drifting load hits both alike.
Checkpoint cost: the same bare graph on the RLS saver (`aiaas.checkpoints.tenant_saver`: app_runtime, the tenant
  bound once per connection, the run's lease) vs the unprotected one, sequential blocks alternated; target RLS p50
  <= 1.15x. Also sync vs exit throughput on the RLS saver at c=16, and rows/bytes per episode in the saver's tables.

Results: benchmarks/results/orchestrator-<UTC timestamp>.json and orchestrator-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import nats
import orjson
import yaml
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text

from aiaas import clock
from aiaas.checkpoints import checkpoint_pool, libpq_dsn, prune_runs, tenant_saver, thread_id_for
from aiaas.db import admin_session, create_engine, session_factory, tenant_session
from aiaas.events import EventEnvelope, event_id
from aiaas.events.orchestration import ORCH_RUN_REQUESTED, OrchRunRequested
from aiaas.tenancy import create_tenant
from aiaas_testing import NatsServer, ServiceProcess, free_port, metric_value, scrape_metrics
from aiaas_testing.admin_keys import create_test_admin_key
from aiaas_testing.infra import infra_urls_from_env, owner_database_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONCURRENCY = 16


# --- the bare graph --------------------------------------------------------------------------------------------
class _State(TypedDict, total=False):
    n: int


def _bare_graph() -> Any:
    async def step(state: _State) -> dict[str, int]:
        return {"n": state.get("n", 0) + 1}

    graph = StateGraph(_State)
    names = ["prepare", "lookup", "think", "finish"]
    for name in names:
        graph.add_node(name, step)
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    return graph.compile()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": statistics.median(ms), "p90_ms": _p(ms, 0.9), "p99_ms": _p(ms, 0.99)}


async def _throughput(episode: Callable[[], Awaitable[None]], seconds: float) -> float:
    """Episodes per second with CONCURRENCY loops running `episode` back to back."""
    done = 0
    stop_at = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            await episode()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(CONCURRENCY)))
    return done / (time.monotonic() - started)


# --- checkpoint cost: unprotected vs RLS saver --------------------------------------------------------------------
class Savers:
    def __init__(self, runtime_url: str, owner_url: str, tenant_id: uuid.UUID) -> None:
        self.schema = f"bench_ckpt_{uuid.uuid4().hex[:8]}"
        self.owner_dsn = libpq_dsn(owner_url)
        self.tenant_id = tenant_id
        self.graph = _bare_graph()
        self.rls_pool = checkpoint_pool(runtime_url, min_size=CONCURRENCY, max_size=CONCURRENCY)
        self.plain_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.owner_dsn,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "row_factory": dict_row,
                "options": f"-c search_path={self.schema}",
            },
            min_size=CONCURRENCY,
            max_size=CONCURRENCY,
            open=False,
        )
        self.rls_runs: list[uuid.UUID] = []

    async def open(self) -> None:
        async with await AsyncConnection.connect(self.owner_dsn, autocommit=True, row_factory=dict_row) as conn:
            await conn.execute(f"create schema {self.schema}")
            await conn.execute(f"set search_path = {self.schema}")
            await AsyncPostgresSaver(conn).setup()
        await self.rls_pool.open(wait=True)
        await self.plain_pool.open(wait=True)

    async def close(self) -> None:
        for start in range(0, len(self.rls_runs), 500):
            await prune_runs(self.rls_pool, self.tenant_id, self.rls_runs[start : start + 500])
        await self.rls_pool.close()
        await self.plain_pool.close()
        async with await AsyncConnection.connect(self.owner_dsn, autocommit=True) as conn:
            await conn.execute(f"drop schema if exists {self.schema} cascade")

    async def plain(self, durability: str = "sync") -> None:
        async with self.plain_pool.connection() as conn:
            graph = self.graph.copy(update={"checkpointer": AsyncPostgresSaver(conn)})
            config = {"configurable": {"thread_id": str(uuid.uuid4())}}
            await graph.ainvoke({"n": 0}, config, durability=durability)

    async def rls(self, durability: str = "sync") -> None:
        run_id = uuid.uuid4()
        self.rls_runs.append(run_id)
        async with tenant_saver(self.rls_pool, self.tenant_id, run_id) as (saver, thread_id):
            graph = self.graph.copy(update={"checkpointer": saver})
            await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": thread_id}}, durability=durability)

    async def footprint(self, runs: list[uuid.UUID]) -> dict[str, Any]:
        threads = [thread_id_for(self.tenant_id, run) for run in runs]
        sizes: dict[str, Any] = {}
        async with self.rls_pool.connection() as conn:
            await conn.execute("select set_config('app.tenant_id', %s, false)", (str(self.tenant_id),))
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                cur = await conn.execute(
                    f"select count(*) as rows, coalesce(sum(pg_column_size(t.*)), 0) as bytes"  # noqa: S608
                    f" from {table} t where thread_id = any(%s)",
                    (threads,),
                )
                row = await cur.fetchone()
                assert row is not None
                sizes[table] = {
                    "rows_per_episode": row["rows"] / len(runs),
                    "bytes_per_episode": row["bytes"] / len(runs),
                }
            await conn.execute("select set_config('app.tenant_id', '', false)")
        sizes["total"] = {
            key: sum(sizes[t][key] for t in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"))
            for key in ("rows_per_episode", "bytes_per_episode")
        }
        return sizes


async def _timed(episode: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await episode()
    return (time.perf_counter() - start) * 1000


async def checkpoint_cost(savers: Savers, episodes: int, seconds: float) -> dict[str, Any]:
    for _ in range(20):  # warm-up: connections, prepared plans, the graph
        await savers.plain()
        await savers.rls()
    plain_ms: list[float] = []
    rls_ms: list[float] = []
    block = 25
    for _ in range(max(1, episodes // block)):  # alternate blocks: this VM's speed drifts over minutes
        plain_ms += [await _timed(savers.plain) for _ in range(block)]
        rls_ms += [await _timed(savers.rls) for _ in range(block)]
    measured_runs = list(savers.rls_runs[-len(rls_ms) :])
    footprint = await savers.footprint(measured_runs)
    eps_plain = await _throughput(savers.plain, seconds)
    eps_sync = await _throughput(savers.rls, seconds)
    eps_exit = await _throughput(lambda: savers.rls("exit"), seconds)
    plain, rls = _summary(plain_ms), _summary(rls_ms)
    return {
        "unprotected_sync": {**plain, "eps_c16": eps_plain},
        "rls_sync": {**rls, "eps_c16": eps_sync},
        "rls_exit": {"eps_c16": eps_exit},
        "rls_over_unprotected_p50": rls["p50_ms"] / plain["p50_ms"],
        "exit_over_sync_eps": eps_exit / eps_sync,
        "footprint_rls_sync": footprint,
    }


# --- (b) through the orchestrator ------------------------------------------------------------------------------
_INSERT_RUN = text(
    "insert into orch_runs (id, tenant_id, idempotency_key, agent, agent_version, versions, model_alias, seed, input,"
    " input_sha256, flags, status, created_at, updated_at) values (:id, :tid, :key, 'bench', 1, cast(:versions as"
    " jsonb), 'gpt-4o-mini', 1, cast(:input as jsonb), :sha, '{}'::jsonb, 'queued', :now, :now)"
)
_VERSIONS = orjson.dumps(
    {
        "agent_version": 1,
        "graph": "bench",
        "graph_version": "bench-v1",
        "prompt_version": "bench-v1",
        "tools": {"orders.get": "1"},
    }
).decode()
_INPUT = orjson.dumps({"order_id": "ORD-1001"})


class Orchestrated:
    """Runs of the `bench` agent: row, request on JetStream, completion event back."""

    def __init__(self, sessions: Any, js: Any, tenant_id: uuid.UUID) -> None:
        self.sessions = sessions
        self.js = js
        self.tenant_id = tenant_id
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.outcomes: dict[str, int] = {}

    async def on_completed(self, msg: Any) -> None:
        data = orjson.loads(msg.data)["data"]
        future = self.waiting.pop(data["run_id"], None)
        if future is not None and not future.done():
            future.set_result(data)

    async def episode(self) -> None:
        run_id = uuid.uuid4()
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[str(run_id)] = done
        async with tenant_session(self.sessions, self.tenant_id) as session:
            await session.execute(
                _INSERT_RUN,
                {
                    "id": run_id,
                    "tid": self.tenant_id,
                    "key": f"bench-{run_id}",
                    "versions": _VERSIONS,
                    "input": _INPUT.decode(),
                    "sha": hashlib.sha256(_INPUT).hexdigest(),
                    "now": clock.now(),
                },
            )
        data = OrchRunRequested(run_id=run_id, agent="bench", reason="start", sequence=0)
        event = EventEnvelope(
            id=event_id(ORCH_RUN_REQUESTED, str(run_id), "start", "0"),
            type=ORCH_RUN_REQUESTED,
            tenant_id=self.tenant_id,
            data=data.model_dump(mode="json"),
        )
        await self.js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.id)})
        result = await asyncio.wait_for(done, timeout=60)
        self.outcomes[result["status"]] = self.outcomes.get(result["status"], 0) + 1


def _start_stack(
    run_dir: Path, nats_url: str, infra: Any, key: Any, max_inflight: int
) -> tuple[list[ServiceProcess], str]:
    base = {k: v for k, v in os.environ.items() if k not in ("ADMIN_DATABASE_URL", "MIGRATION_DATABASE_URL")}
    base |= {
        "DATABASE_URL": infra.database_url,
        "NATS_URL": nats_url,
        "REDIS_URL": infra.redis_url,
        "LOG_LEVEL": "WARNING",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
    }
    procs: list[ServiceProcess] = []

    def http(name: str, module: str, env: dict[str, str], ready: str = "/health/ready") -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        procs.append(
            ServiceProcess(
                ["-m", module, "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                log_path=run_dir / f"{name}.log",
                ready_url=url + ready,
                inherit_env=False,
            ).start()
        )
        return url

    sim = http("provider-sim", "provider_sim", base, "/health")
    models = run_dir / "models.yaml"
    deployment = {
        "name": "mini",
        "provider": "openai",
        "model": "sim-mini",
        "base_url": f"{sim}/v1",
        "input_usd_per_1k": "0.5",
        "output_usd_per_1k": "1.5",
    }
    models.write_text(yaml.safe_dump({"aliases": [{"name": "gpt-4o-mini", "deployments": [deployment]}]}))
    gw_env = base | {
        "GATEWAY_MODELS_FILE": str(models),
        "GATEWAY_SERVICE_KEY_NAMES": key.name,
        "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
        "GATEWAY_OUTBOX_RELAY_METRICS_PORT": "0",
    }
    gateway = http("gateway", "gateway", gw_env)
    procs.append(
        ServiceProcess(
            ["-m", "gateway.outbox_relay"],
            env=gw_env | {"ADMIN_DATABASE_URL": infra.admin_database_url},
            log_path=run_dir / "outbox-relay.log",
            inherit_env=False,
        ).start()
    )
    toolbox = http("toolbox", "toolbox", base | {"TOOLBOX_METRICS_PORT": "0"})
    metrics = free_port()
    worker_env = base | {
        "ADMIN_DATABASE_URL": infra.admin_database_url,
        "ORCH_SERVICE_KEY": key.key,
        "ORCH_GATEWAY_URL": gateway,
        "ORCH_TOOLBOX_URL": toolbox,
        "ORCH_MAX_INFLIGHT": str(max_inflight),
        "ORCH_TRACING": "false",
        "ORCH_WORKER_METRICS_PORT": str(metrics),
        "ORCH_METRICS_PORT": "0",
    }
    procs.append(
        ServiceProcess(
            ["-P", str(ROOT / "benchmarks" / "orchestrator_worker.py")],
            env=worker_env,
            log_path=run_dir / "worker.log",
            ready_url=f"http://127.0.0.1:{metrics}/metrics",
            inherit_env=False,
        ).start()
    )
    return procs, f"http://127.0.0.1:{metrics}/metrics"


_PHASES = ("load", "execute", "persist", "total")


# Inside execute: the model call (gateway + simulator) and the tool call (toolbox), as the engine times them.
_STEPS = ("llm", "tool")


async def _phases(metrics_url: str) -> dict[str, tuple[float, float]]:
    samples = await scrape_metrics(metrics_url)
    phases = {
        phase: (
            metric_value(samples, "orch_delivery_seconds_sum", phase=phase),
            metric_value(samples, "orch_delivery_seconds_count", phase=phase),
        )
        for phase in _PHASES
    }
    steps = {
        f"{kind}_call": (
            metric_value(samples, "orch_steps_latency_seconds_sum", agent="bench", kind=kind),
            metric_value(samples, "orch_steps_latency_seconds_count", agent="bench", kind=kind),
        )
        for kind in _STEPS
    }
    # The worker's own CPU (prometheus_client's process collector): per delivery, what eps at c=16 pays for.
    cpu = {"worker_cpu": (metric_value(samples, "process_cpu_seconds_total"), phases["total"][1])}
    return phases | steps | cpu


def _phase_means(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Mean milliseconds per delivery in each phase (and per model/tool call) between two scrapes of the worker."""
    means = {}
    for phase in before:
        total, count = after[phase][0] - before[phase][0], after[phase][1] - before[phase][1]
        means[f"{phase}_mean_ms"] = 1000 * total / count if count else float("nan")
    return means


async def episode_overhead(
    infra: Any, tenant_id: uuid.UUID, key: Any, savers: Savers, episodes: int, seconds: float, run_dir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(a) and (b), measured side by side: sequential blocks alternated, then c=16 windows alternated, both
    warmed up at c=16 first (pools at full size), so this shared VM's drifting load hits both arms alike."""
    server = NatsServer(run_dir / "nats").start()
    procs, metrics_url = _start_stack(run_dir, server.url, infra, key, CONCURRENCY)
    engine = create_engine(infra.database_url, pool_size=CONCURRENCY)
    nc = await nats.connect(server.url)
    try:
        bench = Orchestrated(session_factory(engine), nc.jetstream(), tenant_id)
        await nc.subscribe(f"orch.run.completed.{tenant_id}", cb=bench.on_completed)
        for _ in range(20):
            await bench.episode()
            await savers.plain()
        await _throughput(bench.episode, 2.0)
        await _throughput(savers.plain, 2.0)
        start = await _phases(metrics_url)
        a_ms: list[float] = []
        ms: list[float] = []
        block = 25
        for _ in range(max(1, episodes // block)):
            a_ms += [await _timed(savers.plain) for _ in range(block)]
            ms += [await _timed(bench.episode) for _ in range(block)]
        sequential = await _phases(metrics_url)
        a_eps: list[float] = []
        b_eps: list[float] = []
        for _ in range(2):  # two windows each, alternated
            a_eps.append(await _throughput(savers.plain, seconds / 2))
            b_eps.append(await _throughput(bench.episode, seconds / 2))
        loaded = await _phases(metrics_url)
        a = {**_summary(a_ms), "eps_c16": statistics.mean(a_eps), "eps_c16_windows": a_eps}
        return a, {
            **_summary(ms),
            "eps_c16": statistics.mean(b_eps),
            "eps_c16_windows": b_eps,
            "outcomes": bench.outcomes,
            # Where an episode's time went inside the worker (the rest: the run's insert, JetStream both ways).
            "worker_phases_c1": _phase_means(start, sequential),
            "worker_phases_c16": _phase_means(sequential, loaded),
        }
    finally:
        await nc.close()
        await engine.dispose()
        for proc in reversed(procs):
            proc.stop()
        server.stop()


# --- main ------------------------------------------------------------------------------------------------------
async def _tenant(admin_url: str) -> uuid.UUID:
    engine = create_engine(admin_url, pool_size=1)
    try:
        async with admin_session(session_factory(engine)) as session:
            slug = f"bench-orch-{uuid.uuid4().hex[:8]}"
            row = await create_tenant(
                session, name=slug, slug=slug, rate_limit_rpm=10_000_000, rate_limit_tpm=2_000_000_000
            )
        return row.id
    finally:
        await engine.dispose()


async def _service_key() -> Any:
    engine = create_engine(owner_database_url(), pool_size=1)
    try:
        return await create_test_admin_key(session_factory(engine), f"bench-orchestrator-{uuid.uuid4().hex[:8]}")
    finally:
        await engine.dispose()


def _targets(a: dict[str, Any], b: dict[str, Any], ck: dict[str, Any]) -> list[dict[str, Any]]:
    def target(name: str, value: float, limit: float, ok: bool) -> dict[str, Any]:
        return {"name": name, "value": round(value, 3), "limit": round(limit, 3), "pass": ok}

    return [
        target("b_p50_over_a_p50", b["p50_ms"] / a["p50_ms"], 2.0, b["p50_ms"] <= 2 * a["p50_ms"]),
        target("b_p50_minus_a_p50_ms", b["p50_ms"] - a["p50_ms"], 25.0, b["p50_ms"] <= a["p50_ms"] + 25),
        target("b_eps_over_a_eps_c16", b["eps_c16"] / a["eps_c16"], 0.5, b["eps_c16"] >= 0.5 * a["eps_c16"]),
        target(
            "rls_over_unprotected_p50", ck["rls_over_unprotected_p50"], 1.15, ck["rls_over_unprotected_p50"] <= 1.15
        ),
    ]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    infra = infra_urls_from_env()
    tenant_id = await _tenant(infra.admin_database_url)
    run_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-orchestrator-{uuid.uuid4().hex[:6]}"  # noqa: S108
    run_dir.mkdir(parents=True)
    savers = Savers(infra.database_url, owner_database_url(), tenant_id)
    await savers.open()
    try:
        ck = await checkpoint_cost(savers, args.episodes, args.seconds)
        key = await _service_key()
        a, b = await episode_overhead(infra, tenant_id, key, savers, args.episodes, args.seconds, run_dir)
    finally:
        await savers.close()
    return {
        "benchmark": "orchestrator",
        "timestamp": datetime.now(UTC).isoformat(),
        "load_average_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "concurrency": CONCURRENCY,
        "episodes_sequential": args.episodes,
        "throughput_window_s": args.seconds,
        "episode_overhead": {"a_bare_langgraph": a, "b_orchestrator": b},
        "checkpoint_cost": ck,
        "targets": _targets(a, b, ck),
        "logs": str(run_dir),
        "measures": "(a) ainvoke of the 4-node graph on a pooled connection (no RLS); (b) from inserting the run and "
        "publishing orch.run.requested to receiving orch.run.completed; eps: 16 episodes kept in flight; (a) and (b) "
        "alternated in blocks of 25 (sequential) and windows of seconds/2 (c=16) after a c=16 warm-up of each",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    cli = parser.parse_args()
    if cli.quick:
        cli.episodes, cli.seconds = 60, 6.0
    document = asyncio.run(main(cli))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = json.dumps(document, indent=2, sort_keys=False)
    (RESULTS / f"orchestrator-{stamp}.json").write_text(body)
    (RESULTS / "orchestrator-latest.json").write_text(body)
    print(json.dumps({"episode_overhead": document["episode_overhead"], "targets": document["targets"]}, indent=2))
    sys.exit(0)
