"""`make bench`, issue 15: the knowledge-base ingestion pipeline, end to end and stage by stage, and re-ingest.

    .venv/bin/python benchmarks/ingestion.py [--quick] [--rounds 4] [--docs 40] [--in-flight 4]

In-process, the code the consumer and the inline API run, on a throwaway database bootstrapped and migrated like
the real one (dropped after); every measurement writes into a fresh tenant, so into a new partition with its own
HNSW and GIN indexes. A synthetic help centre (Markdown and HTML, seeded) is the corpus. Per round, alternating
(this VM's speed drifts):
- parse: the files through the parse workers (bytes → sections) and the chunker;
- embed: the chunks' texts through the offline embedder (all-MiniLM-L6-v2 int8, one text at a time, its thread);
- insert: the chunks with their vectors into an indexed partition, one transaction per document;
- end to end: upload → ready (`Pipeline.accept_and_ingest`) with `--in-flight` documents at once, as the
  consumer ingests a batch; then the same files again (unchanged re-ingest).
All in chunks/s. The order of the arms flips every round, and rounds come in pairs (an odd count is rounded up): on
this shared VM an arm's place in the round moves its speed (the load drifts within a round), so the end-to-end ratio
judged is the median over pairs of each pair's geometric mean, in which each order counts once. Targets: end to
end ≥ 0.8 × the slowest stage alone; unchanged re-ingest ≥ 20× faster than the first ingest (median of rounds).
Writes benchmarks/results/ingestion-<UTC stamp>.json and ingestion-latest.json; a measurement, not a test: exit 0
whenever the JSON was written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# This file is benchmarks/ingestion.py and the service's package is `ingestion`: the package must win the import
# (benchmarks/retrieval.py loads this file by its path).
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [entry for entry in sys.path if entry not in (_HERE, "")] + [_HERE]

from report import RESULTS_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
_DEFAULT_URLS = {
    "DATABASE_URL": "postgresql+asyncpg://app_runtime:app_runtime@127.0.0.1:55432/aiaas",
    "ADMIN_DATABASE_URL": "postgresql+asyncpg://platform_admin:platform_admin@127.0.0.1:55432/aiaas",
    "MIGRATION_DATABASE_URL": "postgresql+asyncpg://aiaas_owner:aiaas_owner@127.0.0.1:55432/aiaas",
    "PG_SUPERUSER_URL": "postgresql://postgres:postgres@127.0.0.1:55432/postgres",
}
_WORDS = (
    "coffee beans roast espresso filter grinder burr blade subscription order parcel delivery refund return warranty"
    " invoice payment card account password email address courier tracking customs duties weekend warehouse"
    " tuesday friday light medium dark origin ethiopia colombia brazil kenya washed natural honey process altitude"
    " acidity body sweetness aroma crema brewing ratio grams water temperature minutes kettle scale descaling"
    " machine portafilter tamper milk froth latte cappuccino flat white decaf storage airtight tin valve bag"
    " gift voucher discount code loyalty points plan pause skip cancel renew upgrade downgrade team office"
).split()
_GLUE = "the a our your each every this that with for from to on in after before when if and or but not".split()


def say(message: str) -> None:
    print(f"[ingestion-bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- a throwaway database (shared with benchmarks/retrieval.py) --------------------------------------------------


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[dict[str, str]]:
    """A database of its own, bootstrapped and migrated like the real one, dropped on exit: the DSNs."""
    base = {key: os.environ.get(key) or value for key, value in _DEFAULT_URLS.items()}
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    env = {key: _with_database(base[key], name) for key in ("DATABASE_URL", "ADMIN_DATABASE_URL")}
    env["MIGRATION_DATABASE_URL"] = _with_database(base["MIGRATION_DATABASE_URL"], name)
    env["PG_SUPERUSER_URL"] = base["PG_SUPERUSER_URL"]
    full = {**os.environ, **env}
    try:
        for command in ("bootstrap", "migrate"):
            subprocess.run([PYTHON, "-m", "data_plane", command], check=True, env=full, cwd=ROOT, capture_output=True)
        yield env
    finally:
        asyncio.run(_drop_database(base["PG_SUPERUSER_URL"], name))


async def _drop_database(superuser_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(superuser_url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


async def make_tenants(admin_url: str, count: int, prefix: str) -> list[uuid.UUID]:
    """`count` tenants (setup, not measured), made as platform_admin."""
    from aiaas.db import admin_session, create_engine, session_factory
    from aiaas.tenancy import create_tenant

    engine = create_engine(admin_url, pool_size=1)
    try:
        async with admin_session(session_factory(engine)) as session:
            return [
                (await create_tenant(session, name=f"{prefix} {i}", slug=f"{prefix}-{uuid.uuid4().hex[:10]}")).id
                for i in range(count)
            ]
    finally:
        await engine.dispose()


# ---- the corpus ------------------------------------------------------------------------------------------------


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS if rng.random() < 0.6 else _GLUE) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(4, 6)))


def corpus(docs: int, seed: int = 15) -> list[tuple[str, bytes]]:
    """(file name, bytes): a help centre of `docs` pages, two in three Markdown, the rest HTML."""
    rng = random.Random(seed)
    files = []
    for index in range(docs):
        title = f"{rng.choice(_WORDS).title()} and {rng.choice(_WORDS)} guide {index}"
        sections = [
            (f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS)}", [_paragraph(rng) for _ in range(2)])
            for _ in range(rng.randint(4, 6))
        ]
        if index % 3 == 2:
            body = "".join(
                f"<h2>{head}</h2>" + "".join(f"<p>{p}</p>" for p in paragraphs) for head, paragraphs in sections
            )
            page = (
                f"<!doctype html><html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav>"
                f"<main><article><h1>{title}</h1>{body}</article></main><footer>Contact us</footer></body></html>"
            )
            files.append((f"guide-{index}.html", page.encode()))
        else:
            text = f"# {title}\n\n" + "".join(
                f"## {head}\n\n" + "\n\n".join(paragraphs) + "\n\n" for head, paragraphs in sections
            )
            files.append((f"guide-{index}.md", text.encode()))
    return files


# ---- the measurements --------------------------------------------------------------------------------------------


async def _timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def _bounded(limit: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from aiaas.db import create_engine, session_factory, tenant_session
    from ingestion.chunking import Chunker
    from ingestion.documents import repository
    from ingestion.documents.repository import NewChunk
    from ingestion.documents.service import Pipeline
    from ingestion.embedding import ChunkEmbedder
    from ingestion.parsing import sniff
    from ingestion.parsing.worker import ParseWorkers

    files = corpus(args.docs)
    tenants = await make_tenants(env["ADMIN_DATABASE_URL"], 2 * args.rounds, "bench-ingest")
    engine = create_engine(env["DATABASE_URL"], pool_size=args.in_flight + 2, application_name="bench-ingestion")
    sessions = session_factory(engine)
    embedder = ChunkEmbedder.default()
    chunker = Chunker()
    parser = ParseWorkers(2, 60.0)
    await parser.start()
    await embedder.embed(["warm up"], kind="warmup")
    pipeline = Pipeline(sessions, embedder, chunker, parser=parser, max_upload_bytes=5 << 20)
    out: dict[str, Any] = {"rounds": []}
    try:

        async def parse_all() -> list[list[Any]]:
            documents = await _bounded(
                2,
                [lambda n=n, d=d: parser.parse(d, n, sniff(d, n)) for n, d in files],  # type: ignore[misc]
            )
            return [chunker.chunks(document) for document in documents]

        _, per_doc = await _timed(parse_all)
        texts = [chunk.embedded_text for chunks in per_doc for chunk in chunks]
        total = len(texts)
        vectors = await embedder.embed(texts)
        out["corpus"] = {
            "documents": len(files),
            "bytes": sum(len(d) for _, d in files),
            "chunks": total,
            "embedding_tokens": embedder.tokens(texts),
        }
        say(f"corpus: {len(files)} files, {total} chunks, {out['corpus']['embedding_tokens']} embedding tokens")

        async def insert_all(tenant: uuid.UUID) -> None:
            offset = 0
            async with tenant_session(sessions, tenant) as session:
                await repository.ensure_partition(session, tenant)
            for (name, data), chunks in zip(files, per_doc, strict=True):
                document = uuid.uuid4()
                async with tenant_session(sessions, tenant) as session:
                    await repository.insert_document(
                        session,
                        document_id=document,
                        tenant_id=tenant,
                        filename=name,
                        media_type=sniff(data, name),
                        sha256=uuid.uuid4().hex * 2,
                        content=data,
                        api_key_id=None,
                        now=datetime.now(UTC),
                    )
                    await repository.insert_chunks(
                        session,
                        tenant_id=tenant,
                        document_id=document,
                        version=1,
                        model_id=embedder.model_id,
                        dimension=embedder.dimension,
                        chunks=[
                            NewChunk(
                                uuid.uuid4(),
                                c.ordinal,
                                c.content,
                                c.section_path,
                                c.page,
                                c.content_sha256,
                                vectors[offset + i],
                            )
                            for i, c in enumerate(chunks)
                        ],
                    )
                offset += len(chunks)

        async def end_to_end(tenant: uuid.UUID) -> list[Any]:
            jobs = [lambda n=n, d=d: pipeline.accept_and_ingest(tenant, n, d, api_key_id=None) for n, d in files]
            return await _bounded(args.in_flight, jobs)  # type: ignore[arg-type]

        for number in range(args.rounds):
            e2e_tenant, insert_tenant = tenants[2 * number], tenants[2 * number + 1]
            figures: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
            # Alternate the order of the arms from round to round.
            arms = ["parse", "embed", "insert", "e2e"] if number % 2 == 0 else ["e2e", "insert", "embed", "parse"]
            for arm in arms:
                if arm == "parse":
                    seconds, _ = await _timed(parse_all)
                elif arm == "embed":
                    seconds, _ = await _timed(lambda: embedder.embed(texts))
                elif arm == "insert":
                    seconds, _ = await _timed(lambda t=insert_tenant: insert_all(t))  # type: ignore[misc]
                else:
                    seconds, accepted = await _timed(lambda t=e2e_tenant: end_to_end(t))  # type: ignore[misc]
                    assert all(a.status == "ready" for a in accepted), [a.status for a in accepted]
                    again_s, again = await _timed(lambda t=e2e_tenant: end_to_end(t))  # type: ignore[misc]
                    assert all(a.unchanged for a in again)
                    figures["first_ingest_s"] = round(seconds, 4)
                    figures["unchanged_reingest_s"] = round(again_s, 4)
                    figures["reingest_speedup"] = round(seconds / again_s, 1)
                figures[f"{arm}_chunks_per_s"] = round(total / seconds, 1)
            stages = {arm: figures[f"{arm}_chunks_per_s"] for arm in ("parse", "embed", "insert")}
            slowest = min(stages, key=lambda arm: stages[arm])
            figures["slowest_stage"] = slowest
            figures["e2e_over_slowest"] = round(figures["e2e_chunks_per_s"] / stages[slowest], 3)
            out["rounds"].append(figures)
            say(
                f"round {number + 1}: parse {stages['parse']}, embed {stages['embed']}, insert {stages['insert']},"
                f" e2e {figures['e2e_chunks_per_s']} chunks/s (x{figures['e2e_over_slowest']} of {slowest});"
                f" re-ingest {figures['reingest_speedup']}x faster"
            )
    finally:
        await parser.aclose()
        await engine.dispose()
    keys = ["parse_chunks_per_s", "embed_chunks_per_s", "insert_chunks_per_s", "e2e_chunks_per_s"]
    keys += ["e2e_over_slowest", "reingest_speedup", "first_ingest_s", "unchanged_reingest_s"]
    out["medians"] = {key: statistics.median(r[key] for r in out["rounds"]) for key in keys}
    out["pairs"] = [
        round(statistics.geometric_mean([a["e2e_over_slowest"], b["e2e_over_slowest"]]), 3)
        for a, b in zip(out["rounds"][::2], out["rounds"][1::2], strict=True)
    ]
    out["medians"]["e2e_over_slowest_pairs"] = statistics.median(out["pairs"])
    return out


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    medians = results.get("medians") or {}
    verdicts = []
    for name, meaning, key, limit in (
        (
            "e2e_over_slowest_stage",
            "end-to-end chunks/s / the slowest stage's alone (median over round pairs, both arm orders each)",
            "e2e_over_slowest_pairs",
            0.8,
        ),
        (
            "unchanged_reingest_speedup",
            "first ingest time / unchanged re-ingest time (median)",
            "reingest_speedup",
            20.0,
        ),
    ):
        value = medians.get(key)
        verdicts.append(
            {
                "target": name,
                "meaning": meaning,
                "value": value,
                "limit": f">= {limit}",
                "pass": None if value is None else value >= limit,
            }
        )
    return verdicts


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounded up to an even count (pairs of orders)")
    parser.add_argument("--docs", type=int, default=40, help="files in the synthetic help centre")
    parser.add_argument("--in-flight", type=int, default=4, help="documents ingested at once end to end")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 4 files")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.docs = 2, 4
    args.rounds += args.rounds % 2
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).isoformat(),
            "commit": _git("rev-parse", "HEAD"),
            "dirty_files": len(_git("status", "--porcelain").splitlines()),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
            "plan": vars(args),
        },
        "errors": {},
    }
    say(f"throwaway database; {args.rounds} rounds, {args.docs} files, {args.in_flight} in flight")
    try:
        with scratch_database("aiaas_bench_ingest") as env:
            results.update(asyncio.run(run(args, env)))
    except Exception as exc:  # noqa: BLE001 - the JSON records what failed
        import traceback

        say(f"FAILED: {exc!r}")
        results["errors"]["run"] = traceback.format_exc()
    results["meta"]["finished"] = datetime.now(UTC).isoformat()
    results["targets"] = judge(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    import json

    text = json.dumps(results, indent=2, default=str) + "\n"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"ingestion-{'quick-' if args.quick else ''}{stamp}.json"
    path.write_text(text)
    if not args.quick:
        (RESULTS_DIR / "ingestion-latest.json").write_text(text)
    for verdict in results["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[verdict["pass"]]
        say(f"{mark} {verdict['target']:<28} {verdict['value']!s:>8}  (target {verdict['limit']})")
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
