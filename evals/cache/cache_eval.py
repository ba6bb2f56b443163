"""`make cache-eval`: the semantic cache's goals (issue 14, Cache tables) -> benchmarks/results/cache_eval.json.

Reads the public sets in place (default ../shared/data next to the repository, or CACHE_EVAL_DATA / --data-dir), embeds
with the platform embedder through its disk cache (.local/embed-cache), runs every protocol with the ONE default
setting (the embedder's default cosine floor + the verifier, `aiaas.semcache`), and also with cosine alone at t = 0.92
(the published reference). Deterministic: fixed splits and seeds, no timestamps in the output. Exits 2 when the data
directory is missing, 1 when a goal fails.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cache_data import (  # noqa: E402  (this directory is a script folder, not a package)
    DataMissing,
    file_hashes,
    gptcache_mock,
    osschat_clusters,
    qqp_halves,
)

from aiaas.semcache import coefficients, default_threshold  # noqa: E402
from aiaas.semcache.evaluation import (  # noqa: E402
    Encoder,
    Setting,
    near_miss,
    osschat_first_vs_rest,
    osschat_zipf,
)
from aiaas.semcache.evaluation import gptcache_mock as run_mock  # noqa: E402
from aiaas.semcache.evaluation import qqp_pairs as run_qqp  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NEAR_MISS = Path(__file__).resolve().parent / "near_miss_v1.json"
OUT = ROOT / "benchmarks" / "results" / "cache_eval.json"
REFERENCE = Setting(threshold=0.92, verifier=False, k=1)
ANCHORS = {"0.45": 0.944, "0.88": 0.913, "0.997": 0.908}
ZIPF_SEEDS = (0, 1, 2, 3, 4)


def platform_encoder() -> tuple[str, Encoder]:
    from aiaas_embedder import EmbeddingCache, default_embedder

    cache = EmbeddingCache(ROOT / ".local" / "embed-cache")

    def encode(texts: Sequence[str]) -> Any:
        return np.asarray(cache.encode(list(texts)), dtype=np.float32)

    return str(default_embedder().name), encode


def load_encoder(spec: str) -> tuple[str, Encoder]:
    """`module:function` returning (name, encode): to evaluate another embedder with the same protocols."""
    module, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    name, encode = factory()
    return str(name), encode


def row(name: str, measured: dict[str, Any], goal: str, passed: bool, anchor: Any = None) -> dict[str, Any]:
    return {"row": name, "anchor": anchor, "measured": measured, "goal": goal, "pass": bool(passed)}


def evaluate(data_dir: Path, name: str, encode: Encoder, setting: Setting) -> dict[str, Any]:
    origins, similars = gptcache_mock(data_dir)
    clusters = osschat_clusters(data_dir)
    _, qqp_test = qqp_halves(data_dir)
    doc = json.loads(NEAR_MISS.read_text(encoding="utf-8"))
    result: dict[str, dict[str, Any]] = {}
    for label, s in (("default", setting), ("cosine_t0.92", REFERENCE)):
        result[label] = {
            "setting": {"threshold": s.threshold, "verifier": s.verifier, "k": s.k},
            "gptcache_mock": run_mock(origins, similars, encode, s),
            "qqp_test": run_qqp(qqp_test.a, qqp_test.b, qqp_test.labels, encode, s),
            "osschat_first_vs_rest": osschat_first_vs_rest(clusters, encode, s),
            "osschat_zipf": [osschat_zipf(clusters, encode, s, seed=seed) for seed in ZIPF_SEEDS],
            "near_miss_v1": near_miss(doc, encode, s),
        }
    d = result["default"]
    mock, qqp, first, nm = d["gptcache_mock"], d["qqp_test"], d["osschat_first_vs_rest"], d["near_miss_v1"]
    zipf = d["osschat_zipf"][0]
    curve = mock["precision_at_hit_rate"]
    rows = [
        row(
            "GPTCache mock: precision at hit rate 0.45 / 0.88 / 0.997 (cosine ranking)",
            curve,
            ">= anchor at each rate",
            all(curve[r] >= a for r, a in ANCHORS.items()),
            ANCHORS,
        ),
        row(
            "GPTCache mock at the default setting",
            {"precision": mock["precision"], "hit_rate": mock["hit_rate"]},
            "P >= 0.95, hit >= 0.60",
            mock["precision"] >= 0.95 and mock["hit_rate"] >= 0.60,
        ),
        row(
            "GPTCache mock, own origin removed (any hit is wrong)",
            {"false_hit_rate": mock["own_origin_removed_false_hit_rate"]},
            "<= 0.10",
            mock["own_origin_removed_false_hit_rate"] <= 0.10,
        ),
        row(
            "QQP test half (hard negatives)",
            {"precision": qqp["precision"], "recall": qqp["recall"]},
            "P >= 0.80 at recall >= 0.30",
            qqp["precision"] >= 0.80 and qqp["recall"] >= 0.30,
            {"TF-IDF": {"precision": 0.80, "recall": 0.07}},
        ),
        row(
            "OSSChat: first question of each cluster cached vs the rest",
            {"precision": first["precision"], "hit_rate": first["hit_rate"]},
            "P >= 0.99, hit >= 0.85",
            first["precision"] >= 0.99 and first["hit_rate"] >= 0.85,
            {"GPTCache": {"precision": 1.00, "hit_rate": 0.73}},
        ),
        row(
            "OSSChat Zipf stream (s 1.1, 2,000 requests, seed 0)",
            {k: zipf[k] for k in ("hit_rate", "precision", "exact_only_hit_rate", "ceiling_hit_rate")},
            "hit >= 0.87, P >= 0.99",
            zipf["hit_rate"] >= 0.87 and zipf["precision"] >= 0.99,
            {"GPTCache seeds": {"hit_rate": 0.73}},
        ),
        row(
            "near-miss set v1 (evals/cache/near_miss_v1.json)",
            {k: nm[k] for k in ("false_hit_rate", "paraphrase_hit_rate", "cosine_alone_paraphrase_hit_rate")},
            "false hits <= 2 % of near misses",
            nm["false_hit_rate"] <= 0.02,
            {"cosine alone at an equally safe threshold": nm["cosine_alone_paraphrase_hit_rate"]},
        ),
    ]
    return {
        "issue": 14,
        "command": "make cache-eval",
        "embedder": name,
        "default_setting": {
            "threshold": setting.threshold,
            "verifier": setting.verifier,
            "k": setting.k,
            "accept_probability": coefficients.ACCEPT_PROBABILITY,
            "ambiguity_margin": coefficients.AMBIGUITY_MARGIN,
        },
        "data_sha256": file_hashes(data_dir),
        "search": "exact (numpy); HNSW replay not run (--pgvector N)",
        "all_pass": all(r["pass"] for r in rows),
        "rows": rows,
        "details": result,
    }


def pgvector_section(data_dir: Path, encode: Encoder, setting: Setting, sample: int) -> dict[str, Any]:
    """The HNSW replay (pgvector_replay.py) on OSSChat + GPTCache mock entries and a seeded sample of their queries."""
    if not os.environ.get("DATABASE_URL") or not os.environ.get("ADMIN_DATABASE_URL"):
        return {"run": False, "reason": "DATABASE_URL / ADMIN_DATABASE_URL not set (run through make cache-eval)"}
    from pgvector_replay import replay

    origins, similars = gptcache_mock(data_dir)
    clusters = osschat_clusters(data_dir)
    entries = list(dict.fromkeys([q for c in clusters for q in c[1:]] + origins))
    queries = [c[0] for c in clusters] + similars
    picked = random.Random(0).sample(queries, min(sample, len(queries)))
    return {
        "run": True,
        "index": "hnsw (vector_cosine_ops), gateway.cache.repository.nearest",
        **replay(entries, picked, encode, setting),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cache-eval", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("CACHE_EVAL_DATA", ROOT.parent / "shared" / "data"))
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--encoder", default="", help="module:function returning (name, encode); default the platform's"
    )
    parser.add_argument("--threshold", type=float, default=None, help="cosine floor (default: the embedder's default)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--no-verifier", action="store_true")
    parser.add_argument("--pgvector", type=int, default=0, help="replay N sampled queries through the real HNSW table")
    args = parser.parse_args(argv)
    try:
        file_hashes(args.data_dir)
    except DataMissing as exc:
        print(f"cache-eval: {exc}", file=sys.stderr)
        return 2
    name, encode = load_encoder(args.encoder) if args.encoder else platform_encoder()
    threshold = args.threshold if args.threshold is not None else default_threshold(name)
    setting = Setting(threshold, not args.no_verifier, args.k)
    report = evaluate(args.data_dir, name, encode, setting)
    if args.pgvector:
        report["pgvector"] = pgvector_section(args.data_dir, encode, setting, args.pgvector)
        if report["pgvector"].get("run"):
            report["search"] = "exact (numpy); a sample replayed through the gateway's HNSW table: see pgvector"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    for r in report["rows"]:
        print(f"{'PASS' if r['pass'] else 'FAIL'}  {r['row']}: {json.dumps(r['measured'])}  (goal {r['goal']})")
    print(f"wrote {args.out}")
    return 0 if report["all_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
