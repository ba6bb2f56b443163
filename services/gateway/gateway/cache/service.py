"""The response cache on a chat request's path: look up (exact, then semantic), and store after replying.

`CacheService.begin(...)` returns None for a tenant without the cache (one flag read), else a
`CacheRequest`: `await lookup(embedding)` gives a hit or None (a failing Redis, Postgres or embedder is a
miss, never an error), `store_completion(body, ...)` / `store_stream(usage, ...)` (after `capture(events)`)
store a complete answer off the response path in a bounded number of background tasks (a store that fails
is logged and dropped: the client has its reply already).

The semantic tier's statements run on the cache's own asyncpg connections (gateway/cache/connections.py; opened
on first use, closed by `drain`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import numpy as np
import redis.asyncio as redis_asyncio
from prometheus_client import Counter
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from aiaas import clock
from aiaas.flags import FlagClient
from aiaas.semcache import choose, default_threshold
from gateway.cache import repository
from gateway.cache.connections import CacheConnections
from gateway.cache.exact import ExactTier
from gateway.cache.replay import answer_from_completion, answer_from_stream
from gateway.cache.rules import CacheControl, CacheKey, CacheSettings, cache_enabled, plan_key, settings_for
from gateway.cache.schemas import CachedAnswer, CacheHit, CacheStatus, StoredEntry
from gateway.catalog.schemas import ModelAlias
from gateway.providers.base import Usage

if TYPE_CHECKING:
    from gateway.chat.embedding import RequestEmbedding

__all__ = ["CacheRequest", "CacheService", "CACHE_LOOKUPS", "CACHE_STORES"]

log = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter("gateway_cache_lookups_total", "Chat requests by cache outcome", ["status"])
CACHE_STORES = Counter("gateway_cache_stores_total", "Cache stores by outcome", ["outcome"])
CACHE_ERRORS = Counter("gateway_cache_errors_total", "Cache steps that failed (served as a miss)", ["step"])

# What a failing dependency raises: Redis, Postgres, a timeout, a lost connection, the embedder.
_FAILURES = (
    RedisError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
    RuntimeError,
    ValueError,
)


class CacheService:
    """The gateway's cache: the Redis exact tier, the pgvector semantic tier, and the tenants' settings."""

    def __init__(
        self,
        *,
        redis: redis_asyncio.Redis,
        engine: AsyncEngine,
        flags: FlagClient,
        embedder_name: str | None,
        prefix: str = "cache",
        timeout_s: float = 1.0,
        semantic_k: int = 5,
        max_pending_stores: int = 64,
    ) -> None:
        self.exact = ExactTier(redis, prefix=prefix, timeout_s=timeout_s)
        self.engine = engine
        self.flags = flags
        self._stores: set[asyncio.Task[None]] = set()
        # No embedder: the exact tier only.
        self.semantic_available = embedder_name is not None
        self._timeout_s = timeout_s
        # A store is off the response path: it may wait longer than a lookup (and for the embedding).
        self._store_timeout_s = max(5.0, 10 * timeout_s)
        self.default_threshold = default_threshold(embedder_name or "")
        self._semantic_k = semantic_k
        self._max_pending = max_pending_stores
        # The semantic tier's statements: on plain asyncpg connections (gateway/cache/connections.py).
        self._connections = CacheConnections(engine)

    def settings(self, tenant: str) -> CacheSettings:
        return settings_for(self.flags, tenant, self.default_threshold)

    def begin(
        self, tenant: str, alias: ModelAlias, payload: dict[str, Any], control: CacheControl
    ) -> CacheRequest | None:
        """The request's cache work, or None when the tenant has no cache (no header, no metering field)."""
        if not cache_enabled(self.flags, tenant):  # one flag read for a tenant without the cache
            return None
        settings = self.settings(tenant)
        key = None if control.no_cache and control.no_store else plan_key(tenant, alias, payload, settings)
        return CacheRequest(self, tenant, alias.name, settings, key, control)

    # -- the semantic tier -----------------------------------------------------------------
    async def nearest(
        self,
        request: CacheRequest,
        key: CacheKey,
        embedding: RequestEmbedding,
        on_search: Callable[[], None] | None = None,
    ) -> list[StoredEntry]:
        """The request's nearest live candidates (same tenant, alias, system prompt and parameters), best first.

        The connection is taken from the pool while the embedder encodes in its thread; the search is one round
        trip that binds the tenant for its own statement (RLS applies). `on_search` is called once the embedding is
        there, just before the search's statement is sent: what it starts (a task) runs once the statement is on
        the wire.
        """
        encoding = asyncio.ensure_future(embedding.get())
        try:
            async with asyncio.timeout(self._timeout_s), self._connections.connection() as conn:
                vector = await encoding
                if vector is None:
                    return []
                request.vector = vector  # the store after a miss sends it again
                if on_search is not None:
                    on_search()
                return await repository.nearest(
                    conn,
                    tenant=request.tenant,
                    alias=request.alias,
                    system_hash=key.system_hash,
                    params_hash=key.params_hash,
                    vector=request.vector,
                    now=clock.now(),
                    k=self._semantic_k,
                )
        finally:
            if not encoding.done():
                encoding.cancel()  # the embedding itself goes on (shielded): the store may still use it
            encoding.add_done_callback(_retrieved)

    # -- storing ----------------------------------------------------------------------------
    def store_soon(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run one store in the background, unless too many are running already (then it is dropped)."""
        if len(self._stores) >= self._max_pending:
            coro.close()
            CACHE_STORES.labels("dropped").inc()
            return
        task = asyncio.ensure_future(coro)
        self._stores.add(task)
        task.add_done_callback(self._stores.discard)

    @property
    def pending_stores(self) -> int:
        return len(self._stores)

    async def drain(self) -> None:
        """Wait for the stores in flight, then close the semantic tier's connections (at shutdown)."""
        while self._stores:
            await asyncio.gather(*self._stores, return_exceptions=True)
        await self._connections.close()

    async def store(
        self, request: CacheRequest, key: CacheKey, answer: CachedAnswer, embedding: RequestEmbedding
    ) -> None:
        settings = request.settings
        query: str | None = None
        vector: np.ndarray | None = None
        if key.query is not None and self.semantic_available and embedding.text:
            # The lookup's search had this embedding already (else it is computed now, off the reply's path).
            vector = request.vector if request.vector is not None else await embedding.get()
            if vector is not None:
                query = embedding.text
        now = clock.now()
        async with asyncio.timeout(self._store_timeout_s), self._connections.connection() as conn:
            entry_id, evicted = await repository.store_entry(
                conn,
                tenant=request.tenant,
                alias=request.alias,
                exact_key=key.exact,
                system_hash=key.system_hash,
                params_hash=key.params_hash,
                query=query,
                vector=vector,
                answer=answer,
                now=now,
                expires=now + timedelta(seconds=settings.ttl_s),
                keep=settings.max_entries,
            )
        await self.exact.delete(request.tenant, evicted)
        if key.exact not in evicted:
            await self.exact.put(request.tenant, key.exact, entry_id, answer, settings.ttl_s)
        CACHE_STORES.labels("stored").inc()

    # -- invalidation -------------------------------------------------------------------------
    async def delete_all(self, session: AsyncSession, tenant: str, alias: str | None) -> int:
        """Delete the tenant's entries (one alias's, or all) from both tiers; how many there were."""
        digests = await repository.delete_all(session, tenant=tenant, alias=alias)
        await self.exact.delete(tenant, digests)
        return len(digests)

    async def delete_entry(self, session: AsyncSession, tenant: str, entry_id: uuid.UUID) -> bool:
        digest = await repository.delete_entry(session, tenant=tenant, entry_id=entry_id)
        if digest is None:
            return False
        await self.exact.delete(tenant, [digest])
        return True

    async def count(self, session: AsyncSession, tenant: str) -> int:
        return await repository.count_entries(session, tenant=tenant, now=clock.now())


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (its failure was handled, or no one waits for it any more)."""
    if not future.cancelled():
        future.exception()


class CacheRequest:
    """One request's cache work: its key, what the lookup found, and its store after the reply."""

    __slots__ = (
        "service",
        "tenant",
        "alias",
        "settings",
        "key",
        "control",
        "status",
        "similarity",
        "entry_id",
        "_events",
        "_exact_lookup",
        "vector",
    )

    def __init__(
        self,
        service: CacheService,
        tenant: str,
        alias: str,
        settings: CacheSettings,
        key: CacheKey | None,
        control: CacheControl,
    ) -> None:
        self.service = service
        self.tenant = tenant
        self.alias = alias
        self.settings = settings
        self.key = key
        self.control = control
        self.status: CacheStatus = "bypass" if key is None or control.no_cache else "miss"
        self.similarity: float | None = None
        self.entry_id: str | None = None
        self._events: list[bytes] = []
        self._exact_lookup: asyncio.Future[CacheHit | None] | None = None
        # The request's embedding, once the semantic search has it (the store after a miss reuses it).
        self.vector: np.ndarray | None = None

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {"x-cache": self.status}
        if self.similarity is not None:
            headers["x-cache-similarity"] = f"{self.similarity:.4f}"
        if self.entry_id is not None:
            headers["x-cache-id"] = self.entry_id  # what DELETE /v1/cache/{id} takes
        return headers

    def prefetch(self) -> None:
        """Send the exact tier's read now, so that it travels while the caller awaits something else (the request's
        admission); `lookup` takes its answer. Nothing is served from it before `lookup`: a request refused meanwhile
        costs one Redis read, and `discard` drops it."""
        key = self.key
        if key is not None and self.status != "bypass" and self._exact_lookup is None:
            self._exact_lookup = asyncio.ensure_future(self._exact(key))

    def discard(self) -> None:
        """The request ends before its lookup (refused, cancelled): drop a prefetched read."""
        pending = self._exact_lookup
        if pending is not None:
            self._exact_lookup = None
            pending.cancel()
            pending.add_done_callback(_retrieved)

    async def lookup(self, embedding: RequestEmbedding, on_search: Callable[[], None] | None = None) -> CacheHit | None:
        """Exact tier, then semantic tier; a hit sets `status` (and `similarity`).

        `on_search` is called when the exact tier missed and the semantic search's statement is about to go out
        (the request's embedding is there): work that needs the embedding too and is only wanted on a miss (the
        `auto` decision) can start then and overlap the search's round trip.
        """
        key = self.key
        if key is None or self.status == "bypass":
            CACHE_LOOKUPS.labels("bypass").inc()
            return None
        prefetched, self._exact_lookup = self._exact_lookup, None
        hit = await (prefetched if prefetched is not None else self._exact(key))
        if hit is None and key.query is not None and self.service.semantic_available and embedding.available:
            hit = await self._semantic(key, embedding, on_search)
        if hit is not None:
            self.status = hit.status
            self.similarity = hit.similarity
            self.entry_id = hit.entry_id
            if hit.entry_key is not None and not self.control.no_store:
                # This request's repeats become exact hits of the same entry (in the background).
                self.service.store_soon(self._link(key, hit.entry_key, hit))
        CACHE_LOOKUPS.labels(self.status).inc()
        return hit

    async def _exact(self, key: CacheKey) -> CacheHit | None:
        try:
            found = await self.service.exact.get(self.tenant, key.exact)
        except _FAILURES as exc:
            CACHE_ERRORS.labels("exact_lookup").inc()
            log.warning("cache exact lookup failed", extra={"error": repr(exc)})
            return None
        if found is None:
            return None
        entry_id, answer = found
        return CacheHit(entry_id, "exact", answer, 1.0)

    async def _semantic(
        self, key: CacheKey, embedding: RequestEmbedding, on_search: Callable[[], None] | None
    ) -> CacheHit | None:
        try:
            rows = await self.service.nearest(self, key, embedding, on_search)
        except _FAILURES as exc:
            CACHE_ERRORS.labels("semantic_lookup").inc()
            log.warning("cache semantic lookup failed", extra={"error": repr(exc)})
            return None
        query = embedding.text or ""
        chosen = choose(
            query,
            [(row.query, row.similarity) for row in rows],
            self.settings.threshold,
            to_nearest=[row.to_nearest for row in rows],
        )
        if chosen is None:
            if rows:
                self.similarity = rows[0].similarity  # the nearest one, for the x-cache-similarity of a miss
            return None
        row = rows[chosen]
        try:
            answer = row.answer()
        except ValueError as exc:
            CACHE_ERRORS.labels("semantic_lookup").inc()
            log.warning("cache entry unreadable", extra={"entry_id": row.entry_id, "error": repr(exc)})
            return None
        return CacheHit(row.entry_id, "semantic", answer, row.similarity, entry_key=row.exact_key)

    async def _link(self, key: CacheKey, entry_key: str, hit: CacheHit) -> None:
        try:
            await self.service.exact.link(self.tenant, entry_key, key.exact, hit.entry_id, hit.answer)
        except _FAILURES as exc:
            CACHE_ERRORS.labels("link").inc()
            log.warning("cache link failed", extra={"error": repr(exc)})

    # -- after the reply -------------------------------------------------------------------------
    @property
    def stores(self) -> bool:
        return self.key is not None and not self.control.no_store and self.settings.max_entries > 0

    def store_completion(self, body: bytes, embedding: RequestEmbedding) -> None:
        """Store a `chat.completion` body's answer (if complete) in the background."""
        if self.stores:
            self.service.store_soon(self._store(lambda: answer_from_completion(body), embedding))

    async def capture(self, events: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        """`events` passed through (and closed with this one), kept for `store_stream` when this request stores."""
        kept = self._events if self.stores else None
        try:
            async for event in events:
                if kept is not None:
                    kept.append(event)
                yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    def store_stream(self, usage: Usage, embedding: RequestEmbedding) -> None:
        """Store the answer of the stream `capture` passed through (if it finished complete), in the background."""
        if self.stores and self._events:
            events = self._events
            self.service.store_soon(self._store(lambda: answer_from_stream(events, usage), embedding))

    async def _store(self, parse: Callable[[], CachedAnswer | None], embedding: RequestEmbedding) -> None:
        key = self.key
        answer = parse()
        if key is None or answer is None:
            CACHE_STORES.labels("incomplete").inc()
            return
        try:
            await self.service.store(self, key, answer, embedding)
        except _FAILURES as exc:
            CACHE_STORES.labels("failed").inc()
            log.warning("cache store failed", extra={"error": repr(exc)})
