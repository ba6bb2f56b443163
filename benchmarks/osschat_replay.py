"""OSSChat replay through the real gateway with the cache on (issue 14, acceptance 10).

The stream (the issue's protocol; it reproduces its "exact alone 0.797, ceiling 0.897"): the 233 clusters of
`osschat_cluster_user_questions.json` (read in place, never copied) in file order are Zipf ranks 1..233 with
p_k ∝ k^-1.1; `rng = numpy.random.default_rng(seed)`, clusters = `rng.choice(233, size=2000, p=p)`, then per
request the question `cluster[rng.integers(len(cluster))]`. Sent in order, one at a time, by a fresh cache-on
tenant (default threshold, verifier and TTL), as `gpt-4o-mini`, temperature 0.

Reported: hit rate (exact / semantic, from `x-cache`), the stream's own bounds (exact alone = the text was sent
before; ceiling = its cluster was), precision of the semantic hits (the answer served was the simulator's
answer to a question of the same cluster: the simulator's replies are deterministic per question, so each
answer text names its question), and provider tokens saved = tokens the stream costs without a cache (each
question's usage, asked of the simulator directly) minus what the simulator served during the replay
(`/_sim/stats`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from cache_bench import chat_body, sequential_posts
from cache_stack import CHEAP_ALIAS, SIM_CHEAP_MODEL, Stack, Tenant, http_json

__all__ = ["OSSCHAT", "replay", "zipf_stream"]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AIAAS_EVAL_DATA", ROOT.parent / "shared" / "data"))
OSSCHAT = DATA / "semantic-cache" / "osschat_cluster_user_questions.json"


def zipf_stream(clusters: list[list[str]], n: int = 2000, s: float = 1.1, seed: int = 0) -> list[tuple[int, str]]:
    """(cluster index, question) per request."""
    weights = np.array([1.0 / (k + 1) ** s for k in range(len(clusters))])
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(clusters), size=n, p=weights / weights.sum())
    return [(int(c), clusters[c][int(rng.integers(len(clusters[c])))]) for c in picks]


def stream_bounds(stream: list[tuple[int, str]]) -> dict[str, float]:
    seen_text: set[str] = set()
    seen_cluster: set[int] = set()
    exact = ceiling = 0
    for cluster, text in stream:
        exact += text in seen_text
        ceiling += cluster in seen_cluster
        seen_text.add(text)
        seen_cluster.add(cluster)
    return {"exact_alone": round(exact / len(stream), 4), "ceiling": round(ceiling / len(stream), 4)}


def _sim_tokens(stack: Stack, model: str) -> tuple[int, int]:
    """(requests, prompt + completion tokens) the simulator has served for `model`."""
    status, _, stats = http_json("GET", f"{stack.sim_url}/_sim/stats")
    row = (stats.get("models") or {}).get(model, {}) if status == 200 and isinstance(stats, dict) else {}
    return int(row.get("requests", 0)), int(row.get("prompt_tokens", 0)) + int(row.get("completion_tokens", 0))


def _answers(stack: Stack, clusters: list[list[str]]) -> tuple[dict[str, int], dict[str, int], dict[str, set[int]]]:
    """Each question asked of the simulator directly: its total tokens, and answer text -> clusters."""
    tokens: dict[str, int] = {}
    owner: dict[str, int] = {}
    by_answer: dict[str, set[int]] = {}
    headers = {"Authorization": "Bearer bench"}
    body_of = {q: {**chat_body(q), "model": SIM_CHEAP_MODEL} for cluster in clusters for q in cluster}
    result = sequential_posts(f"{stack.sim_url}/v1/chat/completions", list(body_of.values()), headers, True)
    for index, (question, reply) in enumerate(zip(body_of, result.bodies, strict=True)):
        if result.statuses[index] != 200:
            raise RuntimeError(f"simulator answered {result.statuses[index]} for {question!r}")
        tokens[question] = int(reply["usage"]["total_tokens"])
        owner[question] = next(i for i, cluster in enumerate(clusters) if question in cluster)
        by_answer.setdefault(reply["choices"][0]["message"]["content"], set()).add(owner[question])
    return tokens, owner, by_answer


def replay(stack: Stack, tenant: Tenant, n: int = 2000, seed: int = 0) -> dict[str, Any]:
    clusters: list[list[str]] = json.loads(OSSCHAT.read_text())
    stream = zipf_stream(clusters, n=n, seed=seed)
    tokens, _, by_answer = _answers(stack, clusters)
    requests_before, tokens_before = _sim_tokens(stack, SIM_CHEAP_MODEL)
    url = f"{stack.gateway_url}/v1/chat/completions"
    result = sequential_posts(url, [chat_body(q, CHEAP_ALIAS) for _, q in stream], tenant.auth, keep_bodies=True)
    requests_after, tokens_after = _sim_tokens(stack, SIM_CHEAP_MODEL)
    counts = {"exact": 0, "semantic": 0, "miss": 0, "other": 0, "errors": 0}
    semantic_right = semantic_wrong = semantic_unknown = 0
    wrong_examples: list[dict[str, str]] = []
    for (cluster, question), status, cache, body in zip(
        stream, result.statuses, result.cache, result.bodies, strict=True
    ):
        if status != 200:
            counts["errors"] += 1
            continue
        kind = cache if cache in ("exact", "semantic", "miss") else "other"
        counts[kind] += 1
        if kind != "semantic":
            continue
        owners = by_answer.get(body["choices"][0]["message"]["content"], set())
        if not owners:
            semantic_unknown += 1
        elif cluster in owners:
            semantic_right += 1
        else:
            semantic_wrong += 1
            if len(wrong_examples) < 10:
                wrong_examples.append({"asked": question, "answer_belongs_to": clusters[min(owners)][0]})
    hits = counts["exact"] + counts["semantic"]
    without_cache = sum(tokens[q] for _, q in stream)
    spent = tokens_after - tokens_before
    judged = semantic_right + semantic_wrong
    return {
        "requests": n,
        "seed": seed,
        "zipf_s": 1.1,
        "clusters": len(clusters),
        "stream_bounds": stream_bounds(stream),
        "replies": counts,
        "hit_rate": round(hits / n, 4),
        "exact_hit_rate": round(counts["exact"] / n, 4),
        "semantic_hit_rate": round(counts["semantic"] / n, 4),
        "semantic_hits_right_cluster": semantic_right,
        "semantic_hits_wrong_cluster": semantic_wrong,
        "semantic_hits_unattributed": semantic_unknown,
        "precision_all_hits": round((counts["exact"] + semantic_right) / (counts["exact"] + judged), 4)
        if hits
        else None,
        "precision_semantic_hits": round(semantic_right / judged, 4) if judged else None,
        "wrong_hit_examples": wrong_examples,
        "provider_requests": requests_after - requests_before,
        "provider_tokens_without_cache": without_cache,
        "provider_tokens_spent": spent,
        "provider_tokens_saved": without_cache - spent,
        "provider_tokens_saved_share": round((without_cache - spent) / without_cache, 4) if without_cache else None,
        "latency_p50_ms": {
            kind: round(float(np.median([m for m, c in zip(result.ms, result.cache, strict=True) if c == kind])), 3)
            for kind in ("exact", "semantic", "miss")
            if kind in result.cache
        },
    }
