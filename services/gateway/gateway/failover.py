"""Provider orchestration: retry with jitter inside the deadline, breaker per deployment, failover.

A stream can fail over only until its first event has been received; after
that the caller turns a failure into an error event for the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from aiaas.resilience import BreakerRegistry, BreakerState, RetryPolicy, retry_async
from gateway.catalog import Deployment, ModelAlias
from gateway.credentials import ProviderCredentials
from gateway.metrics import upstream_series
from gateway.providers.base import ChatStream, Completion, ProviderAdapter, ProviderError

__all__ = ["Failover", "Served", "AllDeploymentsFailed"]

_tracer = trace.get_tracer("gateway.failover")


class AllDeploymentsFailed(Exception):
    """No deployment of the alias served the request (all failed or their breakers are open)."""

    def __init__(self, last_error: ProviderError | None, attempts: int, reached_provider: bool) -> None:
        super().__init__(last_error.message if last_error else "no deployment available")
        self.last_error = last_error
        self.attempts = attempts
        self.reached_provider = reached_provider


@dataclass
class Served:
    deployment: Deployment
    attempts: int
    result: Completion | ChatStream
    first_event: bytes | None = None


class Failover:
    def __init__(
        self,
        adapters: dict[str, ProviderAdapter],
        breakers: BreakerRegistry,
        credentials: ProviderCredentials,
        policy: RetryPolicy,
        *,
        upstream_timeout_s: float,
    ) -> None:
        self._adapters = adapters
        self._breakers = breakers
        self._credentials = credentials
        self._policy = policy
        self._upstream_timeout_s = upstream_timeout_s

    async def serve(self, alias: ModelAlias, request: dict[str, Any], *, stream: bool, deadline: float) -> Served:
        """Try each deployment in order; raises ProviderError for a client error, else AllDeploymentsFailed."""
        attempts = 0
        last_error: ProviderError | None = None
        for deployment in alias.deployments:
            if not self._breakers.allow(deployment.name):
                continue
            refused = self._credentials.refusal(deployment)
            if refused is not None:
                # Its key may not go to its host: nothing is sent, and it is no upstream failure to retry.
                last_error = refused
                continue
            adapter = self._adapters[deployment.provider]

            async def attempt(dep: Deployment = deployment, adapter: ProviderAdapter = adapter) -> Served:
                nonlocal attempts
                attempts += 1
                return await self._attempt(adapter, dep, request, stream=stream, deadline=deadline)

            def retry_here(exc: BaseException, dep: Deployment = deployment) -> bool:
                # Each failed attempt was already recorded; once that opened the breaker
                # (or used up a half-open probe) this deployment is done for this request.
                return (
                    isinstance(exc, ProviderError)
                    and exc.retryable
                    and self._breakers.state(dep.name) is BreakerState.CLOSED
                )

            try:
                served = await retry_async(attempt, policy=self._policy, is_retryable=retry_here, deadline=deadline)
            except ProviderError as exc:
                if not exc.retryable:
                    raise
                last_error = exc
                if time.monotonic() >= deadline:
                    break
                continue
            self._breakers.record_success(deployment.name)
            served.attempts = attempts
            return served
        raise AllDeploymentsFailed(last_error, attempts, reached_provider=attempts > 0)

    async def _attempt(
        self,
        adapter: ProviderAdapter,
        dep: Deployment,
        request: dict[str, Any],
        *,
        stream: bool,
        deadline: float,
    ) -> Served:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError("request deadline exceeded", status=504, retryable=False, code="deadline_exceeded")
        timeout = min(dep.timeout_s or self._upstream_timeout_s, remaining)
        started = time.perf_counter()
        outcome = "error"
        span = _tracer.start_span(
            f"chat {dep.provider}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.system": dep.provider,
                "gen_ai.request.model": dep.model,
                "aiaas.deployment": dep.name,
            },
        )
        # The span is current while the provider is called (as start_as_current_span would make it,
        # without its generator-based context manager on every request).
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            if not stream:
                completion = await adapter.complete(dep, request, timeout)
                outcome = "success"
                return Served(dep, 0, completion)
            chat_stream = await adapter.open_stream(dep, request, timeout)
            assert chat_stream.events is not None
            try:
                first = await anext(chat_stream.events)
            except StopAsyncIteration as exc:
                raise ProviderError("upstream stream was empty", status=502, retryable=True) from exc
            except BaseException:
                await chat_stream.aclose()
                raise
            outcome = "success"
            return Served(dep, 0, chat_stream, first_event=first)
        except Exception as exc:
            if isinstance(exc, ProviderError):
                if exc.retryable:
                    self._breakers.record_failure(dep.name)
                span.set_attribute("error.type", exc.code)
                outcome = exc.code
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(token)
            span.end()
            attempts_total, latency = upstream_series(dep.name, outcome)
            attempts_total.inc()
            latency.observe(time.perf_counter() - started)
