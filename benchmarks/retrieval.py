"""`make bench`, issue 15: knowledge-base retrieval at 100k chunks in one tenant beside 500 other partitions.

    .venv/bin/python benchmarks/retrieval.py [--quick] [--chunks 100000] [--tenants 500] [--queries 200]

On a throwaway database bootstrapped and migrated like the real one (dropped after): `--tenants` other tenants with
a partition and a few chunks each, then one tenant with `--chunks` chunks written through the ingestion repository
(`insert_chunks`, 1,000 a transaction, into its partition with the HNSW and GIN indexes maintained on insert: the
only way the pipeline writes; the time is reported). The vectors are embedding-like: gaussian clusters around
`--centres` random unit centres in 384-d, normalised (uniform random vectors have no neighbourhoods: recall 0.04);
each cluster has its own topic words, so full text and vectors agree on a query's topic.

Measured sequentially on one app_runtime connection, each query in its own tenant transaction (RLS bound, as the
service runs; asyncpg prepares each statement once per connection and reuses it), with the service's own SQL
(`ingestion.search.repository`) and settings (`hnsw.ef_search` 100, 50 candidates a leg, RRF k 60):
- vector recall@10 of the HNSW leg vs the exact top 10 (numpy over the stored vectors);
- p50/p99 of the vector leg, of the exact scan (the same query with index scans off), of the full-text leg and of
  hybrid (both legs and the fusion) at equal N.
Targets: recall@10 ≥ 0.95; vector p99 ≤ 0.05 × exact-scan p50; hybrid p99 ≤ 1.2 × (vector p99 + full-text p99).
Writes benchmarks/results/retrieval-<UTC stamp>.json and retrieval-latest.json; exit 0 whenever the JSON was
written.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

_HERE = Path(__file__).resolve().parent
# benchmarks/ingestion.py shares its throwaway database; loaded by path (its name is the service package's).
_spec = importlib.util.spec_from_file_location("ingestion_bench", _HERE / "ingestion.py")
assert _spec is not None and _spec.loader is not None
ingestion_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingestion_bench)

from report import RESULTS_DIR  # noqa: E402

DIM = 384
MODEL_ID = "all-MiniLM-L6-v2/int8"
BATCH = 1000


def say(message: str) -> None:
    print(f"[retrieval-bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(str, np.round(vector, 6).tolist())) + "]"


def _words(rng: random.Random, count: int) -> list[str]:
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Data:
    """The tenant's clustered vectors and topic texts, and the queries (seeded)."""

    def __init__(self, chunks: int, centres: int, queries: int, seed: int = 15) -> None:
        rng = np.random.default_rng(seed)
        words = _words(random.Random(seed), 4 * centres + 500)
        self.common = words[:500]
        self.topics = [words[500 + 4 * i : 504 + 4 * i] for i in range(centres)]
        self.centres = _normalised(rng.standard_normal((centres, DIM)).astype(np.float32))
        self.cluster = rng.integers(0, centres, size=chunks)
        self.ids = [uuid.uuid4() for _ in range(chunks)]
        # Within a cluster, cosine to the centre ~0.75-0.85, as a topic's passages are to each other.
        noise = rng.standard_normal((chunks, DIM)).astype(np.float32) * 0.035
        self.vectors = _normalised(np.round(_normalised(self.centres[self.cluster] + noise), 6))
        self.rng = random.Random(seed)
        self.query_cluster = rng.integers(0, centres, size=queries)
        qnoise = rng.standard_normal((queries, DIM)).astype(np.float32) * 0.035
        self.queries = _normalised(self.centres[self.query_cluster] + qnoise)

    def text(self, index: int) -> str:
        topic = self.topics[self.cluster[index]]
        words = [
            self.rng.choice(topic) if self.rng.random() < 0.25 else self.rng.choice(self.common) for _ in range(40)
        ]
        return " ".join(words).capitalize() + "."

    def query_text(self, index: int) -> str:
        topic = self.topics[self.query_cluster[index]]
        return " ".join(self.rng.sample(topic, 2))


def _normalised(matrix: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return normalised


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "n": len(samples),
    }


async def _fill(env: dict[str, str], args: argparse.Namespace, data: Data, results: dict[str, Any]) -> uuid.UUID:
    from aiaas.db import create_engine, session_factory, tenant_session
    from ingestion.documents import repository
    from ingestion.documents.repository import NewChunk

    tenants = await ingestion_bench.make_tenants(env["ADMIN_DATABASE_URL"], args.tenants + 1, "bench-kb")
    main: uuid.UUID = tenants[0]
    others = tenants[1:]
    engine = create_engine(env["DATABASE_URL"], pool_size=2, application_name="bench-retrieval-fill")
    sessions = session_factory(engine)
    rng = np.random.default_rng(1)

    async def document(tenant: uuid.UUID, rows: list[tuple[uuid.UUID, int, str, np.ndarray]]) -> None:
        async with tenant_session(sessions, tenant) as session:
            document_id = uuid.uuid4()
            await repository.insert_document(
                session,
                document_id=document_id,
                tenant_id=tenant,
                filename=f"doc-{document_id}.md",
                media_type="text/markdown",
                sha256=uuid.uuid4().hex * 2,
                content=b"bench",
                api_key_id=None,
                now=datetime.now(UTC),
            )
            await repository.insert_chunks(
                session,
                tenant_id=tenant,
                document_id=document_id,
                version=1,
                model_id=MODEL_ID,
                dimension=DIM,
                chunks=[
                    NewChunk(chunk_id, ordinal, content, "", None, uuid.uuid4().hex * 2, _literal(vector))
                    for chunk_id, ordinal, content, vector in rows
                ],
            )

    try:
        started = time.perf_counter()
        for number, tenant in enumerate(others):
            async with tenant_session(sessions, tenant) as session:
                await repository.ensure_partition(session, tenant)
            vectors = _normalised(rng.standard_normal((args.rows_per_other, DIM)).astype(np.float32))
            await document(
                tenant, [(uuid.uuid4(), i, f"other tenant {number} note {i}", v) for i, v in enumerate(vectors)]
            )
        results["fill"] = {"other_partitions_s": round(time.perf_counter() - started, 1)}
        say(f"{len(others)} other partitions in {results['fill']['other_partitions_s']} s")
        async with tenant_session(sessions, main) as session:
            await repository.ensure_partition(session, main)
        started = time.perf_counter()
        for start in range(0, len(data.vectors), BATCH):
            end = min(start + BATCH, len(data.vectors))
            rows = [(data.ids[i], i - start, data.text(i), data.vectors[i]) for i in range(start, end)]
            await document(main, rows)
            if start and start % 20000 == 0:
                say(f"  {start} chunks in {time.perf_counter() - started:.0f} s")
        seconds = time.perf_counter() - started
        results["fill"].update(
            {
                "chunks": len(data.vectors),
                "insert_s": round(seconds, 1),
                "rows_per_s": round(len(data.vectors) / seconds, 1),
            }
        )
        say(f"{len(data.vectors)} chunks (HNSW + GIN maintained) in {seconds:.0f} s")
    finally:
        await engine.dispose()
    return main


async def _superuser(env: dict[str, str], statement: str) -> None:
    """A statement on the throwaway database as the superuser (ANALYZE as autovacuum would; the leakproof arm)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    database = make_url(env["DATABASE_URL"]).database
    url = make_url(env["PG_SUPERUSER_URL"]).set(database=database).render_as_string(hide_password=False)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _legs(sessions: Any, tenant: uuid.UUID, literals: list[str], texts: list[str], args: Any) -> dict[str, Any]:
    """p50/p99 at N = the candidates: the vector leg, the full-text leg and hybrid (both legs, then the fusion)."""
    from aiaas.db import tenant_session
    from ingestion.search.repository import fulltext_leg, vector_leg
    from ingestion.search.service import fuse

    n, ef = args.candidates, args.ef_search
    vector_s, fulltext_s, hybrid_s = [], [], []
    for literal, query in zip(literals, texts, strict=True):
        async with tenant_session(sessions, tenant) as session:
            started = time.perf_counter()
            await vector_leg(session, tenant, literal, limit=n, ef_search=ef, document_ids=None)
            vector_s.append(time.perf_counter() - started)
        async with tenant_session(sessions, tenant) as session:
            started = time.perf_counter()
            await fulltext_leg(session, tenant, query, limit=n, document_ids=None)
            fulltext_s.append(time.perf_counter() - started)
        async with tenant_session(sessions, tenant) as session:
            started = time.perf_counter()
            by_vector = await vector_leg(session, tenant, literal, limit=n, ef_search=ef, document_ids=None)
            by_text = await fulltext_leg(session, tenant, query, limit=n, document_ids=None)
            fused = fuse(by_vector, by_text, k=60, top_k=10)
            hybrid_s.append(time.perf_counter() - started)
        assert fused
    return {
        f"vector_top{n}": _percentiles(vector_s),
        f"fulltext_top{n}": _percentiles(fulltext_s),
        "hybrid": _percentiles(hybrid_s),
    }


async def _measure(
    env: dict[str, str], args: argparse.Namespace, data: Data, tenant: uuid.UUID, results: dict[str, Any]
) -> None:
    from sqlalchemy import text

    from aiaas.db import create_engine, session_factory, tenant_session
    from ingestion.search.repository import fulltext_leg, vector_leg

    engine = create_engine(env["DATABASE_URL"], pool_size=1, application_name="bench-retrieval")
    sessions = session_factory(engine)
    n, ef = args.candidates, args.ef_search
    try:
        ids = data.ids
        literals = [_literal(q) for q in data.queries]
        texts = [data.query_text(i) for i in range(len(literals))]
        for i in range(min(10, len(literals))):  # warm the connection's prepared statements and the caches
            async with tenant_session(sessions, tenant) as session:
                await vector_leg(session, tenant, literals[i], limit=n, ef_search=ef, document_ids=None)
                await fulltext_leg(session, tenant, texts[i], limit=n, document_ids=None)
        exact_truth = np.argsort(-(data.queries @ data.vectors.T), axis=1)[:, :10]
        vector_s, recalls = [], []
        for i, literal in enumerate(literals):
            async with tenant_session(sessions, tenant) as session:
                started = time.perf_counter()
                found = await vector_leg(session, tenant, literal, limit=10, ef_search=ef, document_ids=None)
                vector_s.append(time.perf_counter() - started)
            recalls.append(len({ids[j] for j in exact_truth[i]} & {hit.chunk_id for hit in found}) / 10)
        # The exact scan: the vector leg's own SQL (ingestion.search.repository) ordered by an expression no index
        # serves (`+ 0`), with index scans off too: every row's distance, then a top-10 sort.
        exact_sql = text(
            "/* exact scan */ select c.id from (select c.id, c.document_id,"
            " c.embedding <=> cast(:q as vector) as distance"
            " from kb_chunks c where c.tenant_id = :tid and (cast(:docs as uuid[]) is null"
            " or c.document_id = any(cast(:docs as uuid[]))) order by (c.embedding <=> cast(:q as vector)) + 0"
            " limit :limit) c join kb_documents d on d.id = c.document_id order by c.distance, c.id"
        )
        exact_s, agree = [], []
        exact_plan: Any = [{"Plan": {"Node Type": "not run"}}]
        for i in range(args.exact_queries):
            async with tenant_session(sessions, tenant) as session:
                await session.execute(
                    text(
                        "select set_config('enable_indexscan', 'off', true),"
                        " set_config('enable_bitmapscan', 'off', true),"
                        " set_config('plan_cache_mode', 'force_custom_plan', true)"
                    )
                )
                started = time.perf_counter()
                exact_ids = (
                    (await session.execute(exact_sql, {"tid": tenant, "q": literals[i], "docs": None, "limit": 10}))
                    .scalars()
                    .all()
                )
                exact_s.append(time.perf_counter() - started)
                if i == 0:
                    exact_plan = (
                        await session.execute(
                            text(f"explain (analyze, summary, format json) {exact_sql.text}"),
                            {"tid": tenant, "q": literals[i], "docs": None, "limit": 10},
                        )
                    ).scalar_one()
            agree.append(len({ids[j] for j in exact_truth[i]} & set(exact_ids)) / 10)
        results["latency"] = {
            "vector_top10": _percentiles(vector_s),
            "exact_scan_top10": _percentiles(exact_s),
            **await _legs(sessions, tenant, literals, texts, args),
        }
        results["recall_at_10"] = round(float(np.mean(recalls)), 4)
        results["recall_at_10_min"] = round(float(np.min(recalls)), 2)
        results["exact_scan_agrees_with_numpy"] = round(float(np.mean(agree)), 4)
        async with tenant_session(sessions, tenant) as session:
            plans = {}
            for name, sql, params in (
                (
                    "vector_leg",
                    "select c.id from kb_chunks c where c.tenant_id = :tid"
                    " order by c.embedding <=> cast(:q as vector) limit 10",
                    {"tid": tenant, "q": literals[0]},
                ),
                (
                    "fulltext_leg",
                    "select c.id from kb_chunks c, websearch_to_tsquery('english', :q) q(query)"
                    " where c.tenant_id = :tid and c.tsv @@ q.query order by ts_rank_cd(c.tsv, q.query) desc limit 50",
                    {"tid": tenant, "q": texts[0]},
                ),
            ):
                await session.execute(text("select set_config('hnsw.ef_search', :ef, true)"), {"ef": str(ef)})
                plan = (
                    await session.execute(text(f"explain (analyze, summary, format json) {sql}"), params)
                ).scalar_one()
                plans[name] = {
                    "planning_ms": plan[0].get("Planning Time"),
                    "execution_ms": plan[0].get("Execution Time"),
                    "plan": _nodes(plan[0]["Plan"]),
                }
        plans["exact_scan"] = {
            "planning_ms": exact_plan[0].get("Planning Time"),
            "execution_ms": exact_plan[0].get("Execution Time"),
            "plan": _nodes(exact_plan[0]["Plan"]),
        }
        results["explain"] = plans
        # The full-text leg under RLS: `@@` is not leakproof, so Postgres may not use the GIN index below the
        # policy's security barrier and scans the partition. The same legs with ts_match_vq marked leakproof:
        await _superuser(env, "alter function pg_catalog.ts_match_vq(tsvector, tsquery) leakproof")
        results["latency_with_leakproof_ts_match_vq"] = await _legs(sessions, tenant, literals, texts, args)
    finally:
        await engine.dispose()


def _nodes(plan: dict[str, Any]) -> list[str]:
    """The plan's node types, depth first (e.g. Limit, Index Scan on the HNSW)."""
    name = plan["Node Type"] + (f" using {plan['Index Name']}" if plan.get("Index Name") else "")
    return [name] + [node for child in plan.get("Plans", []) for node in _nodes(child)]


def judge(results: dict[str, Any], candidates: int) -> list[dict[str, Any]]:
    lat = results.get("latency") or {}

    def get(*path: str) -> float | None:
        node: Any = lat
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node)

    recall = results.get("recall_at_10")
    vector_p99 = get("vector_top10", "p99_ms")
    exact_p50 = get("exact_scan_top10", "p50_ms")
    hybrid_p99 = get("hybrid", "p99_ms")
    vector_n_p99, fulltext_p99 = get(f"vector_top{candidates}", "p99_ms"), get(f"fulltext_top{candidates}", "p99_ms")
    legs = None if vector_n_p99 is None or fulltext_p99 is None else vector_n_p99 + fulltext_p99
    out = []
    for name, meaning, value, limit in (
        ("vector_recall_at_10", "HNSW leg vs exact top 10, mean over queries", recall, 0.95),
        (
            "vector_p99_over_exact_p50",
            "vector leg p99 / exact scan p50",
            None if vector_p99 is None or not exact_p50 else round(vector_p99 / exact_p50, 4),
            0.05,
        ),
        (
            "hybrid_p99_over_legs_p99",
            f"hybrid p99 / (vector p99 + full-text p99), both legs at N={candidates}",
            None if hybrid_p99 is None or not legs else round(hybrid_p99 / legs, 3),
            1.2,
        ),
    ):
        op = ">=" if name == "vector_recall_at_10" else "<="
        passed = None if value is None else (value >= limit if op == ">=" else value <= limit)
        out.append({"target": name, "meaning": meaning, "value": value, "limit": f"{op} {limit}", "pass": passed})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=500, help="other tenants, each with its own partition")
    parser.add_argument("--rows-per-other", type=int, default=5)
    parser.add_argument("--centres", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=50, help="each hybrid leg's N (the service's default)")
    parser.add_argument("--ef-search", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10k chunks beside 50 partitions")
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.tenants, args.centres, args.queries, args.exact_queries = 10_000, 50, 150, 50, 5
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).isoformat(),
            "commit": ingestion_bench._git("rev-parse", "HEAD"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
            "plan": vars(args),
        },
        "errors": {},
    }
    say(f"throwaway database; {args.chunks} chunks in one tenant beside {args.tenants} partitions")
    try:
        data = Data(args.chunks, args.centres, args.queries)
        with ingestion_bench.scratch_database("aiaas_bench_kb") as env:

            async def both() -> None:
                tenant = await _fill(env, args, data, results)
                started = time.perf_counter()
                await _superuser(env, "analyze kb_chunks, kb_documents")  # what autovacuum does after a load
                results["fill"]["analyze_s"] = round(time.perf_counter() - started, 1)
                await _measure(env, args, data, tenant, results)

            asyncio.run(both())
    except Exception as exc:  # noqa: BLE001 - the JSON records what failed
        say(f"FAILED: {exc!r}")
        results["errors"]["run"] = traceback.format_exc()
    results["meta"]["finished"] = datetime.now(UTC).isoformat()
    results["targets"] = judge(results, args.candidates)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    body = json.dumps(results, indent=2, default=str) + "\n"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"retrieval-{'quick-' if args.quick else ''}{stamp}.json"
    path.write_text(body)
    if not args.quick:
        (RESULTS_DIR / "retrieval-latest.json").write_text(body)
    say(f"latency {json.dumps(results.get('latency'))}")
    for verdict in results["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[verdict["pass"]]
        say(f"{mark} {verdict['target']:<28} {verdict['value']!s:>8}  (target {verdict['limit']})")
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
