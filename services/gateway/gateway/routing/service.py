"""AutoRouter: the alias a `model: "auto"` request is served by, from the router or, when it fails, the rule table.

Per request: the tiers the tenant may use (its model allowlist, if it has one, limits them: they go to the router
as `candidates`), then POST /v1/router/decide under a short deadline and the router's circuit breaker. Any failure
(no router configured, breaker open, deadline, connection, non-200, a reply that is not the documented JSON, or an
alias the gateway cannot serve) takes the deterministic fallback: `aiaas.routing.fallback.fallback_tier` on the
request's features, the same table the router itself falls back to. The tier's alias is the tenant's as its
policy last came back from the router (remembered per tenant, bounded), else the configured default map.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import numpy as np
from prometheus_client import Counter, Histogram

from aiaas.errors import NotFound, ServiceUnavailable
from aiaas.observability.metrics import record_breaker_state
from aiaas.resilience import BreakerConfig, BreakerRegistry, BreakerState
from aiaas.routing.fallback import fallback_tier
from aiaas.routing.features import extract_features
from gateway.catalog.schemas import Deployment, ModelAlias
from gateway.catalog.service import Catalog
from gateway.config import GatewaySettings
from gateway.routing.client import RouterClient, RouterFailed, RouterReply

__all__ = [
    "AUTO_DECISIONS",
    "AUTO_FALLBACKS",
    "AutoRouter",
    "BREAKER_KEY",
    "EmbeddingSource",
    "Routed",
    "build_auto_router",
]

log = logging.getLogger(__name__)

BREAKER_KEY = "router"
# Tenants whose policy (tier -> alias) the gateway remembers from the router's replies.
_MAX_TENANTS = 10_000

AUTO_DECISIONS = Counter("gateway_auto_decisions_total", "model=auto requests by the decision's reason", ["reason"])
AUTO_FALLBACKS = Counter(
    "gateway_auto_fallbacks_total", "model=auto requests served by the fallback table, by cause", ["cause"]
)
AUTO_DECIDE_SECONDS = Histogram(
    "gateway_auto_decide_seconds",
    "Time a model=auto request spent choosing its alias (router call or fallback)",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)


class EmbeddingSource(Protocol):
    """The request's one embedding (gateway/chat/embedding.py RequestEmbedding): computed at most once."""

    async def get(self) -> np.ndarray | None: ...


@dataclass(frozen=True, slots=True)
class Routed:
    """What an auto request is served by, and why (the usage event and the response headers carry it)."""

    alias: ModelAlias
    decision_id: str
    tier: str
    reason: str


class AutoRouter:
    """Chooses the alias for requests naming `alias` (the gateway's auto alias)."""

    def __init__(
        self,
        *,
        alias: str,
        tiers: Mapping[str, str],
        catalog: Catalog,
        breakers: BreakerRegistry,
        client: RouterClient | None,
    ) -> None:
        if not tiers:
            raise ValueError("the auto alias needs at least one tier -> alias entry")
        self.alias = alias
        # Tier -> alias in price order, cheapest first (the platform's default policy).
        self._tiers = dict(tiers)
        self._catalog = catalog
        self._breakers = breakers
        self._client = client
        self._learned: OrderedDict[str, dict[str, str]] = OrderedDict()
        # What the auto alias resolves to before the decision: it names the request (metrics, cache key, allowlist)
        # and is never served; ChatCall swaps it for the decided alias.
        self.placeholder = ModelAlias(
            name=alias,
            deployments=(Deployment(name=f"{alias}-router", provider="openai", model=alias, base_url="router:"),),
            owned_by="aiaas-router",
        )

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(self._tiers)

    def servable(self) -> bool:
        """Does this gateway serve some default tier's alias (else the auto alias is not listed)?"""
        return any(self._active(alias) is not None for alias in self._tiers.values())

    def _active(self, name: str) -> ModelAlias | None:
        alias = self._catalog.resolve(name)
        return alias if alias is not None and alias.status == "active" else None

    def tier_aliases(self, tenant_id: str) -> dict[str, str]:
        """The tenant's tier -> alias map: as its policy last came back from the router, over the default."""
        learned = self._learned.get(tenant_id)
        return {**self._tiers, **learned} if learned else dict(self._tiers)

    def allowed_tiers(self, tenant_id: str, allowlist: Sequence[str]) -> list[str]:
        """The default tiers the tenant may use: all of them, or those whose alias its model allowlist names."""
        aliases = self.tier_aliases(tenant_id)
        if not allowlist:
            return list(self._tiers)
        allowed = [tier for tier in self._tiers if aliases[tier] in allowlist]
        if not allowed:
            raise NotFound(
                f"The model '{self.alias}' has no model tier this account may use.",
                code="model_not_found",
                param="model",
            )
        return allowed

    async def decide(
        self,
        tenant_id: str,
        payload: Mapping[str, Any],
        *,
        max_tokens: int | None,
        embedding: EmbeddingSource | None,
        allowlist: Sequence[str] = (),
    ) -> Routed:
        """The alias to serve this request with; raises only when no tier's alias can be served at all."""
        started = time.perf_counter()
        allowed = self.allowed_tiers(tenant_id, allowlist)
        try:
            reply = await self._ask(tenant_id, payload, max_tokens, embedding, allowed)
            routed = self._accept(tenant_id, reply, allowlist)
        except RouterFailed as exc:
            AUTO_FALLBACKS.labels(cause=exc.cause).inc()
            if exc.cause not in ("not_configured", "breaker_open"):  # counted, not logged per request
                log.warning(
                    "router decision failed, fallback table used", extra={"cause": exc.cause, "error": str(exc)}
                )
            routed = self._fallback(tenant_id, payload, allowed)
        AUTO_DECISIONS.labels(reason=routed.reason).inc()
        AUTO_DECIDE_SECONDS.observe(time.perf_counter() - started)
        return routed

    async def _ask(
        self,
        tenant_id: str,
        payload: Mapping[str, Any],
        max_tokens: int | None,
        embedding: EmbeddingSource | None,
        allowed: list[str],
    ) -> RouterReply:
        client = self._client
        if client is None:
            raise RouterFailed("not_configured")
        if not self._breakers.allow(BREAKER_KEY):
            raise RouterFailed("breaker_open", f"retry in {self._breakers.retry_in(BREAKER_KEY):.1f} s")
        try:
            body = _decide_body(payload, max_tokens, allowed if len(allowed) < len(self._tiers) else None)
            vector = await _embedding_of(embedding)
            if vector is not None:
                body["embedding"] = vector
            reply = await client.decide(tenant_id, body)
        except RouterFailed as exc:
            if exc.router_down:
                self._breakers.record_failure(BREAKER_KEY)
            else:
                self._breakers.record_success(BREAKER_KEY)  # it answered: up, though this answer is unusable
            raise
        except BaseException:
            self._breakers.release(BREAKER_KEY)
            raise
        self._breakers.record_success(BREAKER_KEY)
        return reply

    def _accept(self, tenant_id: str, reply: RouterReply, allowlist: Sequence[str]) -> Routed:
        """The router's alias, if this gateway serves it and the tenant may use it."""
        alias = self._active(reply.alias)
        if alias is None:
            raise RouterFailed("bad_reply", f"alias {reply.alias!r} (tier {reply.tier!r}) is not served here")
        if allowlist and reply.alias not in allowlist:
            raise RouterFailed("bad_reply", f"alias {reply.alias!r} is not in the tenant's model allowlist")
        self._learn(tenant_id, reply.tier, reply.alias)
        return Routed(alias=alias, decision_id=reply.decision_id, tier=reply.tier, reason=reply.reason)

    def close(self) -> None:
        """Close the router client's idle connections (at shutdown)."""
        if self._client is not None:
            self._client.close()

    def _learn(self, tenant_id: str, tier: str, alias: str) -> None:
        learned = self._learned.get(tenant_id)
        if learned is None:
            learned = self._learned[tenant_id] = {}
            if len(self._learned) > _MAX_TENANTS:
                self._learned.popitem(last=False)
        else:
            self._learned.move_to_end(tenant_id)
        learned[tier] = alias

    def _fallback(self, tenant_id: str, payload: Mapping[str, Any], allowed: list[str]) -> Routed:
        """The rule table's tier; if its alias is not served here, the next stronger allowed tier's, then weaker."""
        features = extract_features(payload.get("messages") or [], payload.get("tools"), payload.get("response_format"))
        tier = fallback_tier(features, allowed)
        aliases = self.tier_aliases(tenant_id)
        start = allowed.index(tier) if tier in allowed else 0
        for candidate in [*allowed[start:], *reversed(allowed[:start])]:
            alias = self._active(aliases[candidate])
            if alias is not None:
                return Routed(alias=alias, decision_id=f"gw-{uuid.uuid4().hex}", tier=candidate, reason="fallback")
        raise ServiceUnavailable(
            f"The model '{self.alias}' cannot be served: none of its tiers' models is available.",
            code="no_deployment_available",
            retry_after=1.0,
        )


def build_auto_router(
    settings: GatewaySettings, http: aiohttp.ClientSession | None, catalog: Catalog
) -> AutoRouter | None:
    """The gateway's AutoRouter from its settings (None when GATEWAY_AUTO_ALIAS is empty). `http` is not used: the
    router call has its own connections (gateway/routing/connections.py)."""
    if not settings.auto_alias:
        return None
    client = None
    # Both or nothing: without a service credential the router would refuse every call (401).
    if settings.router_url and settings.router_service_token:
        client = RouterClient(settings.router_url, settings.router_service_token, settings.router_deadline_ms / 1000)
    breakers = BreakerRegistry(
        BreakerConfig(
            failure_threshold=settings.router_breaker_failure_threshold,
            cooldown_seconds=settings.router_breaker_cooldown_s,
        ),
        on_state_change=_breaker_changed,
    )
    return AutoRouter(
        alias=settings.auto_alias, tiers=settings.auto_tier_aliases, catalog=catalog, breakers=breakers, client=client
    )


def _breaker_changed(key: str, old: BreakerState, new: BreakerState) -> None:
    """The gauge, and one log line per change (per-request fallbacks while it is open are only counted)."""
    record_breaker_state(key, old, new)
    log.warning("router circuit breaker %s -> %s", old.name.lower(), new.name.lower())


async def _embedding_of(embedding: EmbeddingSource | None) -> np.ndarray | None:
    """The request's embedding for the router, which decides without one too (it is an input, not a must)."""
    if embedding is None:
        return None
    try:
        return await embedding.get()
    except Exception:
        log.warning("request embedding failed, the router decides without it", exc_info=True)
        return None


def _decide_body(payload: Mapping[str, Any], max_tokens: int | None, candidates: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": payload.get("messages") or []}
    for name in ("tools", "response_format"):
        value = payload.get(name)
        if value is not None:
            body[name] = value
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if candidates is not None:
        body["candidates"] = candidates
    return body
