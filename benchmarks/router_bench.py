"""The router, measured (issue 14, acceptance 10):

- **decide p50 without the embedding**: `POST /v1/router/decide` at c=1 (wrk, round-robin over 16 bodies of
  different prompts, each carrying its 384-d embedding as the gateway sends it); goal <= 3 ms. For context also
  without `embedding` in the body (the router then embeds the text itself).
- **what `model: "auto"` adds**: sequential requests (c=1) with new prompts through the gateway, `auto` vs the
  fixed alias of the tier the router picks most for them (auto's p50 over the requests the router sent to that
  tier, i.e. to the same alias, when at least half went there), alternating; for a fresh cache-on tenant (the
  request's embedding is computed for the semantic tier either way, and the router gets it) and for the
  cache-off tenant (auto alone pays the embedding); goal: added p50 (cache on) <= decide p50 + 1 ms.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from cache_bench import PromptSource, chat_body, cpu_seconds, sequential_posts
from cache_stack import CHEAP_ALIAS, STRONG_ALIAS, Stack, Tenant, histogram, http_json
from load import Target, run_wrk

__all__ = ["auto_rounds", "decide_bodies", "measure_decide"]

AUTO = "auto"
TIER_ALIASES = {"cheap": CHEAP_ALIAS, "strong": STRONG_ALIAS}


def decide_bodies(count: int = 16, with_embedding: bool = True) -> list[dict[str, Any]]:
    prompts = PromptSource(seed=1414, words=10).take(count)
    bodies: list[dict[str, Any]] = [{"messages": [{"role": "user", "content": p}], "max_tokens": 64} for p in prompts]
    if with_embedding:
        from aiaas_embedder import default_embedder

        vectors = default_embedder().encode(prompts)
        for body, vector in zip(bodies, vectors, strict=True):
            body["embedding"] = [round(float(x), 7) for x in vector]
    return bodies


def measure_decide(stack: Stack, tenant: Tenant, seconds: float, workdir: Path, with_embedding: bool = True) -> dict:
    """wrk c=1 for `seconds` over the decide bodies; p50/p99 from wrk's own histogram."""
    assert stack.router_url is not None
    bodies = decide_bodies(with_embedding=with_embedding)
    status, _, reply = http_json("POST", f"{stack.router_url}/v1/router/decide", bodies[0], tenant.auth)
    if status != 200:
        raise RuntimeError(f"decide answered {status}: {str(reply)[:300]}")
    targets = [Target(stack.router_url, "/v1/router/decide", body, tenant.auth) for body in bodies]
    cpu_before = cpu_seconds(stack.router_pid) if stack.router_pid else 0.0
    result = run_wrk(targets, 1, seconds, workdir)
    cpu_ms = (cpu_seconds(stack.router_pid) - cpu_before) * 1000 / max(1, result.requests) if stack.router_pid else None
    return {
        "router_cpu_ms_per_request": round(cpu_ms, 4) if cpu_ms is not None else None,
        "p50_ms": result.p50_ms,
        "p90_ms": result.p90_ms,
        "p99_ms": result.p99_ms,
        "rps": result.rps,
        "requests": result.requests,
        "errors": result.errors,
        "sample_reply": {k: reply.get(k) for k in ("tier", "model", "reason", "router_version", "canary")}
        if isinstance(reply, dict)
        else reply,
    }


def _arm(stack: Stack, tenant: Tenant, model: str, texts: list[str], tier: str = "cheap") -> dict:
    url = f"{stack.gateway_url}/v1/chat/completions"
    cpu_before = cpu_seconds(stack.gateway_pid), cpu_seconds(stack.router_pid)
    result = sequential_posts(url, [chat_body(t, model) for t in texts], tenant.auth)
    cpu = [
        (cpu_seconds(pid) - before) * 1000 / max(1, len(texts))
        for pid, before in zip((stack.gateway_pid, stack.router_pid), cpu_before, strict=True)
    ]
    ok = [m for m, s in zip(result.ms, result.statuses, strict=True) if s == 200]
    tiers: dict[str, int] = {}
    for tier in result.tiers:
        tiers[tier or "-"] = tiers.get(tier or "-", 0) + 1
    # `auto` is compared with the fixed alias of `tier`: only its requests the router sent to that tier count
    # (the same upstream model on both sides), unless too few went there.
    same = [m for m, s, t in zip(result.ms, result.statuses, result.tiers, strict=True) if s == 200 and t == tier]
    judged = same if model == AUTO and len(same) >= max(5, len(ok) // 2) else ok
    return {
        "p50_ms": round(statistics.median(judged), 4) if judged else None,
        "p50_ms_all": round(statistics.median(ok), 4) if ok else None,
        "tiers": tiers,
        "gateway_cpu_ms_per_request": round(cpu[0], 4),
        "router_cpu_ms_per_request": round(cpu[1], 4),
        "replies": result.counts(),
        "_samples": judged,
    }


def _router_headers(stack: Stack, tenant: Tenant, texts: list[str]) -> dict:
    """A few `auto` requests with their headers: tier and whether the decision came from the router."""
    tiers: dict[str, int] = {}
    fallbacks = 0
    for text in texts:
        status, headers, _ = http_json(
            "POST", f"{stack.gateway_url}/v1/chat/completions", chat_body(text, AUTO), tenant.auth
        )
        tier = headers.get("x-router-tier", f"status {status}")
        tiers[tier] = tiers.get(tier, 0) + 1
        fallbacks += headers.get("x-router-decision-id", "gw-").startswith("gw-")
    return {"tiers": tiers, "gateway_fallback_decisions": fallbacks, "sampled": len(texts)}


def auto_rounds(
    stack: Stack, on: Tenant, off: Tenant, rounds: int, per_round: int, decide_s: float, workdir: Path
) -> dict:
    """Per round: decide p50 (wrk c=1), then auto vs fixed alias for both tenants, in alternating order."""
    prompts = PromptSource(seed=2814)
    sample = _router_headers(stack, on, prompts.take(20))
    # The fixed alias is the one the router picks most for these prompts (the simulator's two models may differ).
    tier = max(TIER_ALIASES, key=lambda t: sample["tiers"].get(t, 0))
    fixed = TIER_ALIASES[tier]
    for tenant in (on, off):
        for model in (AUTO, fixed):
            _arm(stack, tenant, model, prompts.take(10), tier)
    arms = [("auto_cache_on", on, AUTO), ("fixed_cache_on", on, fixed)]
    arms += [("auto_cache_off", off, AUTO), ("fixed_cache_off", off, fixed)]
    decide_before = histogram(stack.gateway_metrics_url, "gateway_auto_decide_seconds")
    rows = []
    pooled: dict[str, list[float]] = {}
    for number in range(rounds):
        row: dict[str, Any] = {"decide": measure_decide(stack, on, decide_s, workdir)}
        for name, tenant, model in arms if number % 2 == 0 else arms[::-1]:
            row[name] = _arm(stack, tenant, model, prompts.take(per_round), tier)
        for suffix in ("cache_on", "cache_off"):
            auto_p50, fixed_p50 = row[f"auto_{suffix}"]["p50_ms"], row[f"fixed_{suffix}"]["p50_ms"]
            row[f"added_{suffix}_ms"] = (
                round(auto_p50 - fixed_p50, 4) if auto_p50 is not None and fixed_p50 is not None else None
            )
        for name, _, _ in arms:
            pooled.setdefault(name, []).extend(row[name].pop("_samples"))
        rows.append(row)
        print(
            f"[router-bench]   round {number + 1}: decide p50 {row['decide']['p50_ms']:.3f} ms; auto adds "
            f"{row['added_cache_on_ms']} ms (cache on), {row['added_cache_off_ms']} ms (cache off)",
            flush=True,
        )

    def median(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return round(statistics.median(values), 4) if values else None

    def pooled_added(suffix: str) -> float | None:
        auto, fixed = pooled.get(f"auto_{suffix}"), pooled.get(f"fixed_{suffix}")
        return round(statistics.median(auto) - statistics.median(fixed), 4) if auto and fixed else None

    def cpu_added(process: str, suffix: str) -> float:
        key = f"{process}_cpu_ms_per_request"
        return round(statistics.median(r[f"auto_{suffix}"][key] - r[f"fixed_{suffix}"][key] for r in rows), 4)

    decide_after = histogram(stack.gateway_metrics_url, "gateway_auto_decide_seconds")
    decide_p50 = round(statistics.median(r["decide"]["p50_ms"] for r in rows), 4)
    return {
        "fixed_alias": fixed,
        "requests_per_arm_per_round": per_round,
        "decide_s_per_round": decide_s,
        "rounds": rows,
        "decide_p50_ms_median": decide_p50,
        "added_cache_on_ms_median": median("added_cache_on_ms"),
        "added_cache_off_ms_median": median("added_cache_off_ms"),
        # The same difference over every round's samples at once (less noise per arm; drift still balanced by the
        # alternation): context for the judged median of the rounds.
        "added_cache_on_ms_pooled": pooled_added("cache_on"),
        "added_cache_off_ms_pooled": pooled_added("cache_off"),
        # CPU per request is steadier than wall time on this shared machine: the gateway's extra CPU for auto and
        # the router's CPU per decision, medians of the rounds.
        "added_gateway_cpu_ms_cache_on": cpu_added("gateway", "cache_on"),
        "router_cpu_ms_per_auto_request": round(
            statistics.median(r["auto_cache_on"]["router_cpu_ms_per_request"] for r in rows), 4
        ),
        "limit_ms": round(decide_p50 + 1.0, 4),
        # The gateway's own timing of its choice (embedding wait + router call + checks), over the auto arms.
        "gateway_auto_decide": _histogram_delta(decide_before, decide_after),
        "auto_sample": sample,
    }


def _histogram_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Mean and cumulative bucket shares of the observations between two scrapes."""
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if count <= 0:
        return {"count": 0}
    buckets = {
        key[3:]: round((after[key] - before.get(key, 0.0)) / count, 4)
        for key in after
        if key.startswith("le_") and key != "le_+Inf"
    }
    return {
        "count": int(count),
        "mean_ms": round((after.get("sum", 0.0) - before.get("sum", 0.0)) / count * 1000, 4),
        "share_at_or_below_s": buckets,
    }
