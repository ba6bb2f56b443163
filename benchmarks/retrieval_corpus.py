"""benchmarks/retrieval.py's corpus: the seeded clustered vectors and topic texts, the throwaway (or kept)
database, and the fill through the ingestion repository (see that file's docstring for the protocol)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DIM",
    "Data",
    "database",
    "fill",
    "filled_tenant",
    "ingestion_bench",
    "normalised",
    "say",
    "superuser",
    "vector_literal",
]

_HERE = Path(__file__).resolve().parent
# benchmarks/ingestion.py shares its throwaway database; loaded by path (its name is the service package's).
_spec = importlib.util.spec_from_file_location("ingestion_bench", _HERE / "ingestion.py")
assert _spec is not None and _spec.loader is not None
ingestion_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingestion_bench)

DIM = 384
MODEL_ID = "all-MiniLM-L6-v2/int8"
BATCH = 1000


def say(message: str) -> None:
    print(f"[retrieval-bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def vector_literal(vector: np.ndarray) -> str:
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
        self.centres = normalised(rng.standard_normal((centres, DIM)).astype(np.float32))
        self.cluster = rng.integers(0, centres, size=chunks)
        # Seeded ids too, so a kept database (--keep, --reuse) holds the same chunks under the same ids.
        id_bytes = np.random.default_rng(seed + 1).bytes(16 * chunks)
        self.ids = [uuid.UUID(bytes=id_bytes[16 * i : 16 * i + 16], version=4) for i in range(chunks)]
        # Within a cluster, cosine to the centre ~0.75-0.85, as a topic's passages are to each other.
        noise = rng.standard_normal((chunks, DIM)).astype(np.float32) * 0.035
        self.vectors = normalised(np.round(normalised(self.centres[self.cluster] + noise), 6))
        self.rng = random.Random(seed)
        self.query_rng = random.Random(seed + 2)  # its own: the query texts do not depend on a fill having run
        self.query_cluster = rng.integers(0, centres, size=queries)
        qnoise = rng.standard_normal((queries, DIM)).astype(np.float32) * 0.035
        self.queries = normalised(self.centres[self.query_cluster] + qnoise)

    def text(self, index: int) -> str:
        topic = self.topics[self.cluster[index]]
        words = [
            self.rng.choice(topic) if self.rng.random() < 0.25 else self.rng.choice(self.common) for _ in range(40)
        ]
        return " ".join(words).capitalize() + "."

    def query_text(self, index: int) -> str:
        topic = self.topics[self.query_cluster[index]]
        return " ".join(self.query_rng.sample(topic, 2))


def normalised(matrix: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return normalised


async def fill(env: dict[str, str], args: argparse.Namespace, data: Data, results: dict[str, Any]) -> uuid.UUID:
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
                    NewChunk(chunk_id, ordinal, content, "", None, uuid.uuid4().hex * 2, vector_literal(vector))
                    for chunk_id, ordinal, content, vector in rows
                ],
            )

    try:
        started = time.perf_counter()
        for number, tenant in enumerate(others):
            async with tenant_session(sessions, tenant) as session:
                await repository.ensure_partition(session, tenant)
            vectors = normalised(rng.standard_normal((args.rows_per_other, DIM)).astype(np.float32))
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


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """The throwaway database (dropped after); with --keep it stays, with --reuse NAME a kept one is migrated again
    (new migrations apply) and used as filled."""
    if not args.keep and not args.reuse:
        with ingestion_bench.scratch_database("aiaas_bench_kb") as env:
            yield env
        return
    base = {key: os.environ.get(key) or value for key, value in ingestion_bench._DEFAULT_URLS.items()}
    name = args.reuse or f"aiaas_bench_kb_kept_{uuid.uuid4().hex[:8]}"
    env = {
        key: ingestion_bench._with_database(base[key], name)
        for key in ("DATABASE_URL", "ADMIN_DATABASE_URL", "MIGRATION_DATABASE_URL")
    }
    env["PG_SUPERUSER_URL"] = base["PG_SUPERUSER_URL"]
    if not args.reuse:
        say(f"kept database {name} (drop it when done: drop database {name})")
    for command in ("bootstrap", "migrate") if not args.reuse else ("migrate",):
        subprocess.run(
            [sys.executable, "-m", "data_plane", command],
            check=True,
            env={**os.environ, **env},
            cwd=ingestion_bench.ROOT,
            capture_output=True,
        )
    yield env


async def filled_tenant(env: dict[str, str], chunks: int) -> uuid.UUID:
    """The kept database's measured tenant: the one whose partition holds `chunks` chunks."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(env["ADMIN_DATABASE_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "select tenant_id, count(*) as n from kb_chunks group by tenant_id order by count(*) desc limit 1"
        )
    finally:
        await conn.close()
    if row is None or row["n"] != chunks:
        raise RuntimeError(f"--reuse: the largest partition holds {row and row['n']} chunks, not {chunks}")
    tenant: uuid.UUID = row["tenant_id"]
    return tenant


async def superuser(env: dict[str, str], statement: str) -> None:
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
