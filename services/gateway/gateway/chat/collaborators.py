"""What a chat request is handed: the gateway state it uses (`ChatDeps`), the way its answer leaves (`ChatReply`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiaas.auth import ApiKeyResolver
from aiaas.flags import FlagClient
from gateway.cache.service import CacheService
from gateway.catalog.service import Catalog
from gateway.chat.embedding import Embedder
from gateway.limits.service import RateLimiter
from gateway.providers.failover import Failover
from gateway.routing.service import AutoRouter
from gateway.usage.meter import UsageMeter

__all__ = ["ChatDeps", "ChatReply"]


@dataclass(frozen=True, slots=True)
class ChatDeps:
    """What the chat route uses of the gateway's state, built once at start-up."""

    resolver: ApiKeyResolver
    catalog: Catalog
    # Live per-tenant feature flags from the control plane (streaming, max_tokens cap, model allowlist).
    flags: FlagClient
    limiter: RateLimiter
    failover: Failover
    meter: UsageMeter
    # Runs a fire-and-forget coroutine the gateway waits for at shutdown (GatewayState.spawn).
    spawn: Callable[[Coroutine[Any, Any, None]], None]
    # A tenant without limits of its own gets these (0 = unlimited).
    default_tenant_rpm: int
    default_tenant_tpm: int
    default_max_tokens_estimate: int
    request_deadline_s: float
    # `model: "auto"` (gateway/routing): the router's choice of alias; None = no auto alias.
    auto: AutoRouter | None = None
    # The response cache (gateway/cache) and the request embedder it shares with the router; None = off.
    cache: CacheService | None = None
    embedder: Embedder | None = None


class ChatReply(Protocol):
    """How the answer leaves: one JSON body, or a stream of SSE events (the transport's business)."""

    async def json(self, body: bytes, headers: Mapping[str, str]) -> None: ...

    async def stream(self, events: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        """Send `events` until they end or the client leaves; `events` is closed either way."""
