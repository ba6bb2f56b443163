"""Provider orchestration: retry with jitter inside the deadline, breaker per deployment, failover.

Each attempt's timeout is capped so every later deployment keeps its room in the request deadline
(aiaas.resilience.failover_budget states the rule). A stream can fail over until its first content:
role-only and empty chunks are held back and sent with the first content (or tool call, or finish)
chunk, so a stream cut before it is retried elsewhere and the client sees one clean stream; after
it the caller turns a failure into an error event for the client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from aiaas.resilience import BreakerRegistry, BreakerState, retry_async
from aiaas.resilience.failover_budget import FailoverBudget
from gateway.catalog.schemas import Deployment, ModelAlias
from gateway.metrics import upstream_series
from gateway.providers.base import ChatStream, Completion, ProviderAdapter, ProviderError
from gateway.providers.credentials import ProviderCredentials

__all__ = ["Failover", "Served", "AllDeploymentsFailed"]

_tracer = trace.get_tracer("gateway.failover")

# Errors of an upstream that did not answer in time: retried on another deployment, not the same one.
_TIMEOUT_CODES = frozenset({"upstream_timeout", "first_byte_timeout"})


def _has_content(event: bytes) -> bool:
    """Whether an OpenAI-format SSE event carries content, a tool call, a refusal or a finish (not just a role)."""
    try:
        chunk = orjson.loads(event.removeprefix(b"data:").strip())
    except orjson.JSONDecodeError:
        return True  # not ours to judge: pass it on rather than hold it forever
    if not isinstance(chunk, dict):
        return True
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            return True
        delta = choice.get("delta") or {}
        if choice.get("finish_reason") is not None or any(
            delta.get(key) for key in ("content", "tool_calls", "function_call", "refusal")
        ):
            return True
    return False


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
        budget: FailoverBudget,
    ) -> None:
        self._adapters = adapters
        self._breakers = breakers
        self._credentials = credentials
        self._budget = budget
        self._policy = budget.retry_policy()

    async def serve(self, alias: ModelAlias, request: dict[str, Any], *, stream: bool, deadline: float) -> Served:
        """Try each deployment in order; raises ProviderError for a client error, else AllDeploymentsFailed."""
        attempts = 0
        last_error: ProviderError | None = None
        for position, deployment in enumerate(alias.deployments):
            after = len(alias.deployments) - position - 1
            if not self._breakers.allow(deployment.name):
                continue
            refused = self._credentials.refusal(deployment)
            if refused is not None:
                # Its key may not go to its host: nothing is sent, and it is no upstream failure to retry.
                last_error = refused
                continue
            adapter = self._adapters[deployment.provider]

            if after and self._budget.attempt_timeout_s(deployment.timeout_s, deadline - time.monotonic(), after) <= 0:
                # Too late for this one: what is left belongs to the deployments after it.
                continue

            async def attempt(
                dep: Deployment = deployment, adapter: ProviderAdapter = adapter, after: int = after
            ) -> Served:
                nonlocal attempts
                attempts += 1
                return await self._attempt(adapter, dep, request, stream=stream, deadline=deadline, after=after)

            def retry_here(exc: BaseException, dep: Deployment = deployment, after: int = after) -> bool:
                # Each failed attempt was already recorded; once that opened the breaker
                # (or used up a half-open probe) this deployment is done for this request.
                return (
                    isinstance(exc, ProviderError)
                    and exc.retryable
                    and not (after and exc.code in _TIMEOUT_CODES)
                    and self._breakers.state(dep.name) is BreakerState.CLOSED
                )

            try:
                served: Served = await retry_async(
                    attempt, policy=self._policy, is_retryable=retry_here, deadline=deadline
                )
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
        after: int,
    ) -> Served:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError("request deadline exceeded", status=504, retryable=False, code="deadline_exceeded")
        timeout = self._budget.attempt_timeout_s(dep.timeout_s, remaining, after)
        if timeout <= 0:
            # A retry that would eat the later deployments' room: give up here, fail over.
            raise ProviderError("no time left for this deployment", status=504, retryable=True, code="upstream_timeout")
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
            first_byte_s = self._budget.first_byte_timeout(dep.first_byte_timeout_s, timeout)
            try:
                async with asyncio.timeout(first_byte_s):
                    chat_stream, first = await self._open_until_content(adapter, dep, request, timeout)
            except TimeoutError as exc:
                raise ProviderError(
                    f"no content from upstream within {first_byte_s:g} s",
                    status=504,
                    retryable=True,
                    code="first_byte_timeout",
                ) from exc
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

    async def _open_until_content(
        self, adapter: ProviderAdapter, dep: Deployment, request: dict[str, Any], attempt_s: float
    ) -> tuple[ChatStream, bytes]:
        """Open the stream and read it up to its first content; the held-back events come out with it, as one."""
        chat_stream = await adapter.open_stream(dep, request, attempt_s)
        assert chat_stream.events is not None
        held: list[bytes] = []
        try:
            while True:
                try:
                    event = await anext(chat_stream.events)
                except StopAsyncIteration:
                    if held and chat_stream.completed:
                        return chat_stream, b"".join(held)  # a finished reply with no content at all
                    raise ProviderError("upstream stream was empty", status=502, retryable=True) from None
                held.append(event)
                if _has_content(event):
                    return chat_stream, b"".join(held)
        except BaseException:
            await chat_stream.aclose()
            raise
