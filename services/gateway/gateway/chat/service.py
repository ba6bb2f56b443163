"""The life of one chat request: validate, limit, serve with failover, answer, meter exactly once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import orjson
from redis.exceptions import RedisError

from aiaas.auth import Principal
from aiaas.errors import BadRequest, Forbidden, NotFound, PlatformError, RateLimited
from aiaas.quota import quota_key
from aiaas.service_callers import COST_HEADER
from gateway.cache.replay import completion_body, replay, stream_events
from gateway.cache.rules import cache_control as parse_cache_control
from gateway.cache.service import CacheRequest
from gateway.callers import RunStep
from gateway.catalog.schemas import ModelAlias
from gateway.chat.collaborators import ChatDeps, ChatReply
from gateway.chat.embedding import RequestEmbedding
from gateway.chat.request import estimate_prompt_tokens
from gateway.chat.schemas import ChatCompletionRequest
from gateway.limits.service import LimitDecision, Limits, Settlement
from gateway.metrics import RATE_LIMIT_BYPASSED, RATE_LIMIT_REJECTIONS, request_series, ttft_series
from gateway.providers.base import SSE_DONE, ChatStream, Completion, ProviderError, Usage, sse
from gateway.providers.failover import AllDeploymentsFailed, Served
from gateway.routing.service import AutoRouter, Routed
from gateway.usage.meter import RequestRecord, Status

__all__ = ["ChatCall", "ChatDeps", "ChatReply", "QuotaExceeded"]

log = logging.getLogger(__name__)


_NO_LIMITS = Limits()


class QuotaExceeded(PlatformError):
    """The tenant's plan quota for the billing period is used up (aiaas.quota)."""

    status = 429
    type = "quota_exceeded"
    default_code = "quota_exceeded"


class ChatCall:
    """One request's journey, from an authenticated caller and a parsed body to its answer: `run(reply)`."""

    def __init__(
        self,
        deps: ChatDeps,
        principal: Principal,
        request: ChatCompletionRequest,
        payload: dict[str, Any],
        cache_control: str | None = None,
        *,
        run_step: RunStep | None = None,
    ) -> None:
        self._deps = deps
        self.principal = principal
        self.request = request
        self.payload = payload
        self.prompt_estimate = estimate_prompt_tokens(payload)
        self.estimated_tokens = self.prompt_estimate + (request.max_output_tokens() or deps.default_max_tokens_estimate)
        self.decision: LimitDecision | None = None
        self.tenant = str(principal.tenant_id)
        self.key_id = str(principal.key_id)
        self.record = RequestRecord(
            principal=principal, model_alias=request.model, stream=request.stream, api_key_id=self.key_id
        )
        if run_step is not None:  # a service credential's call for an orchestrator run (usage event, requests row)
            self.record.orch_run_id = run_step.run_id
            self.record.orch_step = run_step.step
        # The `model` label of this request's series: the alias once the catalog knows it. A name taken from
        # the request would let any caller mint series (and this process's memory) without bound.
        self.metric_model = "other"
        self.quota_key = quota_key(self.tenant)
        self.tenant_limits = Limits(
            requests_per_minute=principal.tenant_rpm or (deps.default_tenant_rpm or None),
            tokens_per_minute=principal.tenant_tpm or (deps.default_tenant_tpm or None),
        )
        self.key_limits = Limits(requests_per_minute=principal.key_rpm, tokens_per_minute=principal.key_tpm)
        # The request's embedding, computed at most once (semantic cache, router) and only when asked for.
        self.embedding = RequestEmbedding(deps.embedder, payload.get("messages") or ())
        self.cache_control = cache_control
        self.cache: CacheRequest | None = None
        # `model: "auto"` with the semantic tier searching: the decision asked for meanwhile (`_route_ahead`).
        self._routing: asyncio.Future[Routed] | None = None

    async def run(self, reply: ChatReply) -> None:
        """Admit, serve with failover, answer through `reply`; the request is metered exactly once.

        Raises PlatformError (before anything was sent) for the caller to render.
        """
        alias = self._resolve_alias()
        cache = self._begin_cache(alias)
        if cache is not None:
            cache.prefetch()  # the exact tier's read travels with the admission's round trip
        try:
            await self._admit()
        except BaseException:
            if cache is not None:
                cache.discard()
            raise
        if cache is not None and await self._answer_from_cache(cache, reply, alias):
            return
        served = await self._serve(await self._route(alias))
        cache = self.cache
        if isinstance(served.result, Completion):
            # Metered (written ahead to the WAL: one write, no fsync) before a byte of the answer leaves, so a
            # kill after the client has its answer cannot lose the usage; publishing stays off the path.
            self._finish("success", served.result.usage, http_status=200)
            await reply.json(served.result.body, self._response_headers())
            if cache is not None:
                cache.store_completion(served.result.body, self.embedding)  # in the background
            return
        events = self._stream_events(served)
        try:
            await reply.stream(events if cache is None else cache.capture(events), self._response_headers())
        finally:
            self._ensure_recorded(served)
        if cache is not None and served.result.completed:
            cache.store_stream(served.result.usage, self.embedding)  # in the background

    def _begin_cache(self, alias: ModelAlias) -> CacheRequest | None:
        """This request's cache work (gateway/cache), or None: no cache, or not for this tenant."""
        cache_service = self._deps.cache
        if cache_service is None:
            return None
        control = parse_cache_control(self.cache_control)
        self.cache = cache_service.begin(self.tenant, alias, self.payload, control)
        return self.cache

    async def _answer_from_cache(self, cache: CacheRequest, reply: ChatReply, alias: ModelAlias) -> bool:
        """The response cache: a hit answers here, metered with no deployment (cost 0)."""
        auto = self._deps.auto
        ahead = self._route_ahead if auto is not None and alias is auto.placeholder else None
        try:
            hit = await cache.lookup(self.embedding, on_search=ahead)
        except asyncio.CancelledError:
            self._drop_routing(cancel=True)
            self._finish("cancelled", Usage(), http_status=None, reached=False)
            raise
        except BaseException:
            self._drop_routing(cancel=True)
            raise
        self.record.cache_status = cache.status
        if hit is None:
            return False
        # A semantic hit after the decision was asked for: the router made it (and recorded it) for nothing.
        self._drop_routing()
        self.record.mark_first_token()
        self._finish("success", Usage(hit.answer.prompt_tokens, hit.answer.completion_tokens), http_status=200)
        if self.request.stream:
            events = stream_events(hit.answer, self.request.wants_usage_chunk)
            await reply.stream(replay(events), self._response_headers())
        else:
            await reply.json(completion_body(hit.answer), self._response_headers())
        return True

    # -- admission ---------------------------------------------------------
    def _resolve_alias(self) -> ModelAlias:
        auto = self._deps.auto
        if auto is not None and self.request.model == auto.alias:
            alias: ModelAlias | None = auto.placeholder  # the decided alias replaces it in `_route`
        else:
            alias = self._deps.catalog.resolve(self.request.model)
        if alias is not None:
            self.metric_model = alias.name
        allowlist = self._deps.flags.get_list("model_allowlist", self.tenant, default=[])
        if alias is None or (allowlist and self.request.model not in allowlist):
            raise NotFound(
                f"The model '{self.request.model}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        if auto is not None and alias is auto.placeholder:
            auto.allowed_tiers(self.tenant, allowlist)  # 404 when the allowlist leaves it no tier
        if alias.status == "deprecated":
            instead = f"; use '{alias.replacement}' instead" if alias.replacement else ""
            raise PlatformError(
                f"The model '{alias.name}' is deprecated and no longer served{instead}.",
                code="model_deprecated",
                param="model",
                status=410,
                type="invalid_request_error",
            )
        self._apply_flags()
        return alias

    def _apply_flags(self) -> None:
        """Per-tenant switches the platform team flips in the control plane (live, no restart)."""
        flags = self._deps.flags
        if self.request.stream and not flags.is_enabled("streaming_enabled", self.tenant, default=True):
            raise Forbidden(
                "Streaming is disabled for this account; retry with stream=false.",
                code="streaming_disabled",
                param="stream",
            )
        cap = flags.get_int("max_tokens_cap", self.tenant, default=0)
        if cap > 0:
            asked = self.request.max_output_tokens()
            if asked is not None and asked > cap:
                raise BadRequest(
                    f"max_tokens may be at most {cap} for this account.", code="max_tokens_exceeded", param="max_tokens"
                )
            if asked is None:
                self.payload["max_tokens"] = cap  # the implicit limit is clamped to the cap

    async def _admit(self) -> None:
        """Plan quota and rate limits, in one Redis call; raises 429 when either refuses."""
        try:
            decision = await self._deps.limiter.acquire(
                tenant_id=self.tenant,
                key_id=self.key_id,
                tenant_limits=self.tenant_limits,
                key_limits=self.key_limits,
                estimated_tokens=self.estimated_tokens,
                quota_key=self.quota_key,
            )
        except (RedisError, OSError) as exc:
            # Limits protect budgets, they are not worth an outage: serve, and say so loudly.
            RATE_LIMIT_BYPASSED.inc()
            log.warning("rate limiter unavailable, request admitted", extra={"error": repr(exc)})
            return
        self.decision = decision
        if decision.quota_exceeded is not None:
            RATE_LIMIT_REJECTIONS.labels(limit="quota").inc()
            raise QuotaExceeded(decision.quota_message or "Quota exceeded.", headers=decision.headers())
        if not decision.allowed:
            RATE_LIMIT_REJECTIONS.labels(limit=decision.blocked_by or "unknown").inc()
            raise RateLimited(
                f"Rate limit reached ({decision.blocked_by}). Retry after {decision.retry_after_s:.1f}s.",
                code="rate_limit_exceeded",
                headers=decision.headers(),
            )

    def _response_headers(self) -> dict[str, str]:
        headers = {"x-request-id": self.record.request_id}
        if self.decision is not None:
            headers.update(self.decision.headers())
        if self.record.deployment is not None:
            headers["x-aiaas-deployment"] = self.record.deployment.name
        if self.record.router_decision_id is not None:
            headers["x-router-tier"] = self.record.router_tier or ""
            headers["x-router-decision-id"] = self.record.router_decision_id
        if self.cache is not None:
            headers.update(self.cache.headers())
        if self.record.cost_usd is not None:  # the usage event's price: known before a JSON answer's headers
            headers[COST_HEADER] = format(self.record.cost_usd, "f")
        return headers

    # -- serving -------------------------------------------------------------
    def _route_ahead(self) -> None:
        """Ask for the `auto` decision while the semantic tier searches: both need the one embedding, and the
        router's work then overlaps the search's round trip instead of following it. Started once the search's
        statement is on the wire (a router woken first on a shared core would hold the statement back). Only a
        semantic miss uses the decision; on a hit it is dropped (the router has recorded it: a decision that no
        usage or feedback event ever names)."""
        auto = self._deps.auto
        if auto is not None and self._routing is None:
            self._routing = asyncio.ensure_future(self._decide(auto))

    def _drop_routing(self, *, cancel: bool = False) -> None:
        """Forget a decision asked for ahead: it finishes on its own (or is cancelled: the request is gone)."""
        routing, self._routing = self._routing, None
        if routing is not None:
            if cancel:
                routing.cancel()
            routing.add_done_callback(_retrieved)  # its failure, if any, is nobody's

    def _decide(self, auto: AutoRouter) -> Coroutine[Any, Any, Routed]:
        return auto.decide(
            self.tenant,
            self.payload,
            max_tokens=self.request.max_output_tokens(),
            embedding=self.embedding,
            allowlist=self._deps.flags.get_list("model_allowlist", self.tenant, default=[]),
        )

    async def _route(self, alias: ModelAlias) -> ModelAlias:
        """`model: "auto"`: the alias the router (or its fallback table) chose; any other alias is kept."""
        auto = self._deps.auto
        if auto is None or alias is not auto.placeholder:
            return alias
        routing, self._routing = self._routing, None
        try:
            routed = await (routing if routing is not None else self._decide(auto))
        except PlatformError as exc:  # no tier's alias can be served: nothing reached a provider
            self._finish("error", Usage(), http_status=exc.status, error_code=exc.code, reached=False)
            raise
        except asyncio.CancelledError:
            self._finish("cancelled", Usage(), http_status=None, reached=False)
            raise
        self.record.router_decision_id = routed.decision_id
        self.record.router_tier = routed.tier
        self.record.router_reason = routed.reason
        # Metered and priced as the alias that serves; the usage event keeps what the caller named.
        self.record.requested_alias = self.record.model_alias
        self.record.model_alias = self.metric_model = routed.alias.name
        return routed.alias

    async def _serve(self, alias: ModelAlias) -> Served:
        deadline = time.monotonic() + self._deps.request_deadline_s
        try:
            served = await self._deps.failover.serve(alias, self.payload, stream=self.request.stream, deadline=deadline)
        except ProviderError as exc:  # the provider rejected the request itself: no failover
            self._finish("error", Usage(), http_status=exc.status, error_code=exc.code, reached=True)
            raise BadRequest(exc.message, code=exc.code) from exc
        except AllDeploymentsFailed as exc:
            last = exc.last_error
            self.record.attempts = exc.attempts
            self._finish(
                "error",
                Usage(),
                http_status=last.status if last else None,
                error_code=last.code if last else "no_deployment_available",
                reached=exc.reached_provider,
            )
            raise _unavailable(exc) from exc
        except asyncio.CancelledError:
            # Failover only awaits provider calls and retry pauses: a provider was reached.
            self._finish("cancelled", Usage(self.prompt_estimate, 0, exact=False), http_status=None)
            raise
        self.record.deployment = served.deployment
        self.record.attempts = served.attempts
        return served

    async def _stream_events(self, served: Served) -> AsyncIterator[bytes]:
        stream = served.result
        assert isinstance(stream, ChatStream) and stream.events is not None and served.first_event is not None
        try:
            self.record.mark_first_token()
            ttft_series(self.metric_model).observe((self.record.ttft_ms or 0.0) / 1000)
            yield served.first_event
            async for event in stream.events:
                yield event
            if self.request.wants_usage_chunk and stream.usage_chunk is not None:
                yield stream.usage_chunk
            # Metered (written ahead) before `[DONE]` leaves: a client that saw the stream end is never unbilled.
            self._finish_stream(stream, "success", 200, None)
            yield SSE_DONE
        except ProviderError as exc:
            self._finish_stream(stream, "error", exc.status, exc.code)
            yield sse(
                orjson.dumps(
                    {
                        "error": {
                            "type": "api_error",
                            "code": exc.code,
                            "message": f"The upstream stream failed: {exc.message}",
                        }
                    }
                )
            )
        finally:
            self._finish_stream(stream, "cancelled", 200, None)  # the client left before the end: metered now
            await stream.aclose()

    def _finish_stream(
        self, stream: ChatStream, status: Status, http_status: int | None, error_code: str | None
    ) -> None:
        """Meter a stream once, with the tokens it carried so far (the prompt estimated if never reported)."""
        if self.record.recorded:
            return
        usage = stream.usage
        if not usage.exact and usage.tokens_in == 0:
            usage = Usage(self.prompt_estimate, usage.tokens_out, exact=False)
        self._finish(status, usage, http_status=http_status, error_code=error_code)

    def _ensure_recorded(self, served: Served) -> None:
        """Safety net after the response: a stream the transport never started iterating still meters."""
        if self.record.recorded:
            return
        stream = served.result
        assert isinstance(stream, ChatStream)
        self._finish("cancelled", Usage(self.prompt_estimate, 0, exact=False), http_status=None)
        self._deps.spawn(stream.aclose())

    # -- bookkeeping -----------------------------------------------------------
    def _finish(
        self,
        status: Status,
        usage: Usage,
        *,
        http_status: int | None,
        error_code: str | None = None,
        reached: bool = True,
    ) -> None:
        elapsed = time.perf_counter() - self.record.started
        count, latency = request_series(self.metric_model, status)
        count.inc()
        latency.observe(elapsed)
        if reached:
            self._deps.meter.record(
                self.record, status=status, usage=usage, http_status=http_status, error_code=error_code
            )
        # Buckets are settled only if acquire debited them; the quota counts every request that reached
        # a provider. Admission reserved 1 request and the estimate in the quota, so settle corrects that
        # reservation (or returns it when no provider was reached). All of it goes to Redis with other
        # requests' settles in one pipelined round trip.
        decision = self.decision
        debited = decision is not None
        # A cache hit reached no provider: it counts as a request but spends no tokens (as billing meters it).
        hit = self.record.cache_status in ("exact", "semantic")
        actual = 0 if hit else usage.tokens_in + usage.tokens_out
        quota_delta: tuple[int, int] | None = None
        if decision is not None and decision.quota_reserved:
            quota_delta = (actual - self.estimated_tokens, 0) if reached else (-self.estimated_tokens, -1)
        self._deps.limiter.settle_soon(
            Settlement(
                tenant_id=self.tenant,
                key_id=self.key_id,
                tenant_limits=self.tenant_limits if debited else _NO_LIMITS,
                key_limits=self.key_limits if debited else _NO_LIMITS,
                estimated_tokens=self.estimated_tokens,
                actual_tokens=actual,
                quota_key=self.quota_key if reached or quota_delta is not None else None,
                quota_delta=quota_delta,
            )
        )


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _unavailable(exc: AllDeploymentsFailed) -> PlatformError:
    last = exc.last_error
    if last is None:
        return PlatformError(
            "No deployment of this model is available right now (all circuit breakers are open).",
            status=503,
            type="api_error",
            code="no_deployment_available",
            headers={"Retry-After": "1"},
        )
    if last.status == 429:
        return PlatformError(
            "The upstream provider is rate limiting this model; retry later.",
            status=429,
            type="rate_limit_error",
            code="upstream_rate_limited",
            headers={"Retry-After": str(max(1, int(last.retry_after or 1)))},
        )
    status = 504 if last.code in ("upstream_timeout", "deadline_exceeded") else 502
    return PlatformError(f"All deployments failed: {last.message}", status=status, type="api_error", code=last.code)
