"""One decision: the tenant's policy, the allowed tiers, the model's p, the bandit, and the event.

The model work (features, the embedding if the gateway sent none, the classifier) has a deadline
(`ROUTER_DECIDE_DEADLINE_MS`); a missing or unloadable artifact, a feature error or a passed deadline make the
deterministic fallback table (aiaas.routing.fallback) decide, reason `fallback`, counted by cause. The decision
is made durable as a `router.decision.made` event (written ahead, published in batches: off the latency path);
the router's consumer projects it into `router_decisions`.

A request whose novelty (1 - best cosine of its embedding to the model's training centroids; 1 without an
embedding) is above `ROUTER_NOVELTY_BAR` is beyond what the classifier was trained on: it does not early-exit, and
the classifier's prior weighs `ROUTER_NOVELTY_PRIOR_SCALE` times as much in the bandit's posterior. The bandit's
cost factors scale each tier's estimated cost in the objective (router/decide/rules.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from aiaas.errors import Unprocessable
from aiaas.events import EventEnvelope, event_id
from aiaas.events.schemas import ROUTER_DECISION_MADE, RouterDecisionMade
from aiaas.routing.fallback import fallback_tier
from aiaas.routing.features import RequestFeatures, extract_features, last_user_text
from router import metrics
from router.bandit.rules import TenantArms, context_key, explore_roll, posterior, seed_of, thompson_draws
from router.decide.rules import Reason, TierOption, affordable, expected_tokens, pick, tier_cost
from router.decide.schemas import DecideRequest, DecideResponse
from router.model import RouterModel
from router.policy.schemas import Policy
from router.state import RouterState

__all__ = ["decide", "request_hash", "conversation_key_of"]

log = logging.getLogger(__name__)


class _Fallback(Exception):
    """The model path cannot decide this request; `cause` says why (a metric label)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True)
class _Scored:
    p: dict[str, float]
    domains: frozenset[str]
    novelty: float


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def request_hash(messages: Sequence[Mapping[str, Any]]) -> str:
    """sha256 of the canonical messages: the same request sent again has the same hash."""
    return hashlib.sha256(_canonical(list(messages))).hexdigest()


def conversation_key_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """A conversation's key: the system messages and the first user message (stable as the conversation grows)."""
    head: list[Mapping[str, Any]] = []
    for message in messages:
        head.append(message)
        if message.get("role") == "user":
            break
    return hashlib.sha256(_canonical([m for m in head if m.get("role") in ("system", "developer", "user")])).hexdigest()


def _options(policy: Policy, candidates: Sequence[str] | None) -> list[TierOption]:
    tiers = [TierOption(t.name, t.alias, t.price_usd_per_1k) for t in policy.tiers]
    if candidates is None:
        return tiers
    known = {t.name for t in tiers}
    if any(name not in known for name in candidates):
        raise Unprocessable(
            "Every candidate must be one of the tenant's router tiers: " + ", ".join(sorted(known)) + ".",
            code="unknown_tier",
            param="candidates",
        )
    wanted = set(candidates)
    return [t for t in tiers if t.name in wanted]


async def _embed(messages: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """The request's embedding (the last user message's text), off the event loop; None without user text."""
    from aiaas_embedder import default_embedder, query_text

    text = query_text(messages)
    if not text:
        return None
    vectors = await default_embedder().aencode([text])
    return np.asarray(vectors[0], dtype=np.float32)


async def _score(
    state: RouterState,
    model: RouterModel | None,
    features: RequestFeatures,
    messages: list[dict[str, Any]],
    given: list[float] | None,
    started: float,
) -> _Scored:
    deadline_s = state.settings.decide_deadline_ms / 1000.0
    if model is None:
        raise _Fallback("artifact")
    if deadline_s <= 0:
        raise _Fallback("deadline")
    embedding: np.ndarray | list[float] | None = given
    try:
        if embedding is None and model.embedding_dim is not None and last_user_text(messages):
            remaining = deadline_s - (time.perf_counter() - started)
            if remaining <= 0:
                raise _Fallback("deadline")
            embedding = await asyncio.wait_for(_embed(messages), timeout=remaining)
        p, embedding_domains, novelty = model.assess(features, embedding)
        domains = features.domain_flags | embedding_domains
    except _Fallback:
        raise
    except TimeoutError:
        raise _Fallback("deadline") from None
    except Exception as exc:  # any failure of the model path is a feature error: the table decides
        log.warning("router model path failed, fallback decides", extra={"error": repr(exc)})
        raise _Fallback("features") from exc
    if time.perf_counter() - started > deadline_s:
        raise _Fallback("deadline")
    return _Scored(p={tier: float(value) for tier, value in p.items()}, domains=domains, novelty=float(novelty))


def _dicts(body: DecideRequest) -> list[dict[str, Any]]:
    return [message.model_dump(exclude_none=True) for message in body.messages]


async def _policy(state: RouterState, tenant_id: uuid.UUID) -> Policy:
    try:
        return await state.policies.get(tenant_id)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("tenant policy unreadable, the platform default decides", extra={"error": repr(exc)})
        return state.platform_policy


async def _arms(state: RouterState, tenant_id: uuid.UUID, context: str) -> TenantArms:
    try:
        return await state.arms.get(tenant_id, context)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("bandit arms unreadable, the classifier decides alone", extra={"error": repr(exc)})
        return TenantArms(context={}, tiers={})


async def decide(state: RouterState, tenant_id: uuid.UUID, body: DecideRequest) -> DecideResponse:
    started = time.perf_counter()
    settings = state.settings
    policy = await _policy(state, tenant_id)
    options = _options(policy, body.candidates)
    lam = policy.lambda_ if body.lambda_ is None else body.lambda_
    max_cost_usd = policy.max_cost_usd if body.max_cost_usd is None else body.max_cost_usd
    messages = _dicts(body)
    fallback_cause: str | None = None
    try:
        features = extract_features(messages, body.tools, body.response_format)
    except Exception as exc:  # noqa: BLE001 - rules over client input: a shape they miss must not fail it
        log.warning("feature extraction failed, fallback decides", extra={"error": repr(exc)})
        rough_tokens = len(_canonical(messages)) // 4
        features = RequestFeatures(token_count=rough_tokens, json_schema_strictness=0, domain_flags=frozenset())
        fallback_cause = "features"
    tokens = expected_tokens(features.token_count, body.max_tokens, settings.expected_output_tokens)
    options = affordable(options, tokens, max_cost_usd)
    if not options:
        raise Unprocessable(
            "No allowed tier is expected to cost at most max_cost_usd for this request.",
            code="max_cost_too_low",
            param="max_cost_usd",
        )
    allowed = [option.name for option in options]
    hashed = request_hash(messages)
    conversation = body.conversation_key or conversation_key_of(messages)
    selection = state.selector.choose(tenant_id, conversation, share=policy.canary_share)
    p_success: dict[str, float] = {}
    domains = features.domain_flags
    reason: Reason
    if policy.pinned_tier is not None and policy.pinned_tier in allowed:
        tier, reason = policy.pinned_tier, "pinned"
    else:
        try:
            if fallback_cause is not None:
                raise _Fallback(fallback_cause)
            # The deadline is the model work's (features, embedding, classifier), not the policy read's.
            scored = await _score(state, selection.model, features, messages, body.embedding, time.perf_counter())
            if any(name not in scored.p for name in allowed):
                raise _Fallback("tiers")
        except _Fallback as fallback:
            tier, reason = fallback_tier(features, allowed), "fallback"
            metrics.FALLBACKS.labels(cause=fallback.cause).inc()
        else:
            domains = scored.domains
            context = context_key(domains)
            arms = await _arms(state, tenant_id, context)
            novel = scored.novelty > settings.novelty_bar
            strength = settings.prior_strength * (settings.novelty_prior_scale if novel else 1.0)
            posteriors = {t: posterior(p, arms.arm(t), strength) for t, p in scored.p.items()}
            factors = {t: arms.cost_factor(t, settings.cost_prior_strength) for t in allowed}
            if novel:
                metrics.NOVEL.inc()
            p_success = {t: round(post.mean, 6) for t, post in posteriors.items() if t in policy.tier_names}
            seed = seed_of(
                tenant_id,
                hashed,
                features.json_schema_strictness,
                sorted(domains),
                allowed,
                lam,
                tokens,
                selection.version,
                sorted(arms.context.items()),
            )
            explore = len(allowed) > 1 and explore_roll(seed, policy.exploration_cap)
            draws = thompson_draws(seed, posteriors, allowed) if explore else None
            chosen = pick(
                options,
                classifier=scored.p,
                posteriors=posteriors,
                lam=lam,
                bar=None if novel else policy.early_exit_bar,
                tokens=tokens,
                draws=draws,
                cost_factor=factors,
            )
            tier, reason = chosen.tier, chosen.reason
            if explore:
                metrics.EXPLORATIONS.labels(tier=tier).inc()
    option = next(o for o in options if o.name == tier)
    decision_id = uuid.uuid4()
    latency_ms = (time.perf_counter() - started) * 1000.0
    data = RouterDecisionMade(
        decision_id=decision_id,
        tier=tier,
        model=option.alias,
        reason=reason,
        router_version=selection.version,
        canary=selection.canary,
        allowed=allowed,
        stronger_allowed=allowed.index(tier) < len(allowed) - 1,
        p_success=p_success,
        expected_cost_usd=tier_cost(option, tokens),
        latency_ms=latency_ms,
        context_key=context_key(domains),
        conversation_key=conversation,
        request_hash=hashed,
    )
    state.emitter.emit_soon(
        EventEnvelope(
            id=event_id(ROUTER_DECISION_MADE, str(decision_id)),
            type=ROUTER_DECISION_MADE,
            tenant_id=tenant_id,
            data=data.model_dump(mode="json"),
        )
    )
    metrics.TIER_DISTRIBUTION.labels(tier=tier, reason=reason).inc()
    metrics.DECISION_LATENCY.labels(reason=reason).observe(latency_ms)
    return DecideResponse(
        decision_id=decision_id,
        tier=tier,
        model=option.alias,
        p_success=p_success,
        expected_cost_usd=data.expected_cost_usd,
        reason=reason,
        router_version=selection.version,
        canary=selection.canary,
    )
