"""The tool adapter: every business-tool call of the orchestrator goes through `ToolAdapter.call`.

Layers, outermost first (issue 15, §1 "Tool adapter"):

1. **Bulkhead per tool** (`limits.concurrency`): one call more than the limit fails at once with
   `bulkhead_full`. There is no queue, so a slow backend cannot pile up waiting calls.
2. **Circuit breaker per dependency** (`aiaas.resilience.BreakerRegistry`; by default 5
   consecutive failed calls open it for 30 s, then one half-open probe). It guards the whole
   retried call: one call records one outcome. Failures are what says the backend is unwell:
   5xx, 429, timeouts, connection errors. A 4xx answer (a 409 "key in use" included) means the
   backend works, so it counts as a success. While open, calls fail with `circuit_open` without a
   request.
3. **Full-jitter retry** (`aiaas.resilience.retry_async`): the sleep before retry n (0-based) is
   uniform(0, min(cap, base * 2**n)). Only retryable errors are retried: timeouts, connection
   errors, 429, 5xx and the 409s the backend marks `"retryable": true` (the toolbox's
   `idempotency_key_in_use`). A side-effecting tool is retried only when the caller gives an
   idempotency key, which goes out as `Idempotency-Key` on every attempt. A `Retry-After` is
   not honoured: the back-off stays within the jitter bound. No attempt starts, and no back-off
   is slept, past the call's deadline.
4. **Per-attempt timeout** (`limits.timeout_s`, shortened to what is left before the deadline).

Success is a `ToolResult`; every failure is a `ToolCallError` with its `ErrorClass`, the last
status, the attempts made and the backend's error body.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from prometheus_client import Counter, Gauge

from aiaas.observability.metrics import record_breaker_state
from aiaas.resilience import BreakerConfig, BreakerOpen, BreakerRegistry, RetryPolicy, retry_async
from aiaas.tools.errors import ErrorClass, ToolCallError
from aiaas.tools.manifest import ToolManifest

__all__ = ["DEFAULT_BREAKER", "TOOL_ATTEMPTS", "TOOL_CALLS", "TOOL_IN_FLIGHT", "ToolAdapter", "ToolResult"]

# Labels are manifest names (a configured, bounded set), never a tenant or an argument.
TOOL_CALLS = Counter("tool_calls_total", "Tool calls by outcome: ok or the error class", ["tool", "outcome"])
TOOL_ATTEMPTS = Counter("tool_call_attempts_total", "Requests sent to tool backends (retries included)", ["tool"])
TOOL_IN_FLIGHT = Gauge("tool_calls_in_flight", "Tool calls inside their bulkhead", ["tool"])

# The breaker: 5 consecutive failures -> open 30 s -> one half-open probe.
DEFAULT_BREAKER = BreakerConfig(failure_threshold=5, cooldown_seconds=30.0, half_open_max_probes=1)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

RetryHook = Callable[[str, int, ToolCallError, float], None]


@dataclass(frozen=True)
class ToolResult:
    """A successful (2xx) tool call: status, parsed body, attempts made, and whether it was a replay.

    `replayed` is the backend's `Idempotent-Replayed` header (None when it sent none): True means
    an earlier request with the same key ran, and this is its stored answer.
    """

    tool: str
    status: int
    body: Any
    attempts: int
    replayed: bool | None = None


class _Attempt(Exception):
    """One failed attempt (internal): the error it would be, whether to retry, whether the breaker counts it."""

    def __init__(self, error: ToolCallError, *, retryable: bool, breaker_failure: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.breaker_failure = breaker_failure


class _Bulkhead:
    """Calls of one tool in flight; `try_acquire` never waits."""

    __slots__ = ("limit", "in_flight")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1


class ToolAdapter:
    """Calls tools described by `ToolManifest`s over HTTP (aiohttp), with bulkhead, breaker, retry, timeout.

    `base_urls` maps each manifest's `dependency` to its base URL (`http://toolbox:8094`).
    `breakers` defaults to a registry with `DEFAULT_BREAKER` that keeps the gauge
    `circuit_breaker_state{key=<dependency>}` current; pass one to share it or to give it a clock.
    `rng`, `sleep` and `clock` are injectable so that tests are deterministic (a seeded `random.Random`;
    `clock` is the one deadlines are measured on, `time.monotonic` by default).
    One adapter per event loop; close it with `aclose()` (or use it as an async context manager).
    """

    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        breakers: BreakerRegistry | None = None,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: RetryHook | None = None,
    ) -> None:
        self._base_urls = {dep: url.rstrip("/") for dep, url in base_urls.items()}
        self.breakers = (
            breakers if breakers is not None else BreakerRegistry(DEFAULT_BREAKER, on_state_change=record_breaker_state)
        )
        self._session = session
        self._own_session = session is None
        self._headers = dict(headers or {})
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - back-off jitter, not crypto
        self._sleep = sleep
        self._clock = clock
        self._on_retry = on_retry
        self._bulkheads: dict[str, _Bulkhead] = {}

    async def __aenter__(self) -> ToolAdapter:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if the adapter made it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def in_flight(self, tool: str) -> int:
        """Calls of `tool` now inside its bulkhead (for metrics)."""
        bulkhead = self._bulkheads.get(tool)
        return 0 if bulkhead is None else bulkhead.in_flight

    async def call(
        self,
        tool: ToolManifest,
        args: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> ToolResult:
        """Call `tool` with `args`; raise `ToolCallError` unless the backend answered 2xx.

        `idempotency_key` goes out as `Idempotency-Key` on every attempt (required for a
        side-effecting tool to be retried). `headers` are added to the adapter's (e.g. the tenant).
        `deadline` is absolute on the adapter's clock: no attempt runs and no back-off is slept past it.
        """
        try:
            result = await self._call(tool, args, idempotency_key, headers, deadline)
        except ToolCallError as exc:
            TOOL_CALLS.labels(tool=tool.name, outcome=exc.error_class.value).inc()
            raise
        TOOL_CALLS.labels(tool=tool.name, outcome="ok").inc()
        return result

    async def _call(
        self,
        tool: ToolManifest,
        args: Mapping[str, Any] | None,
        idempotency_key: str | None,
        headers: Mapping[str, str] | None,
        deadline: float | None,
    ) -> ToolResult:
        bulkhead = self._bulkhead(tool)
        if not bulkhead.try_acquire():
            raise ToolCallError(ErrorClass.BULKHEAD_FULL, f"{bulkhead.limit} calls already in flight", tool=tool.name)
        in_flight = TOOL_IN_FLIGHT.labels(tool=tool.name)
        in_flight.inc()
        try:
            request = self._request(tool, args or {}, idempotency_key, headers)
            if deadline is not None and self._clock() >= deadline:
                raise ToolCallError(ErrorClass.TIMEOUT, "deadline passed before the first attempt", tool=tool.name)
            try:
                async with self.breakers.guard(tool.dependency, is_failure=_is_breaker_failure):
                    return await self._with_retries(tool, request, idempotency_key, deadline)
            except BreakerOpen as exc:
                raise ToolCallError(
                    ErrorClass.CIRCUIT_OPEN,
                    f"circuit open for dependency {tool.dependency!r}",
                    tool=tool.name,
                    retry_after_s=exc.retry_after,
                ) from None
            except _Attempt as exc:
                raise exc.error from None
        finally:
            bulkhead.release()
            in_flight.dec()

    def _bulkhead(self, tool: ToolManifest) -> _Bulkhead:
        bulkhead = self._bulkheads.get(tool.name)
        if bulkhead is None:
            bulkhead = self._bulkheads[tool.name] = _Bulkhead(tool.limits.concurrency)
        bulkhead.limit = tool.limits.concurrency  # a new manifest version may change it
        return bulkhead

    def _request(
        self,
        tool: ToolManifest,
        args: Mapping[str, Any],
        idempotency_key: str | None,
        headers: Mapping[str, str] | None,
    ) -> _Request:
        base = self._base_urls.get(tool.dependency)
        if base is None:
            raise ToolCallError(ErrorClass.FATAL, f"no base URL for dependency {tool.dependency!r}", tool=tool.name)
        rest = dict(args)
        values: dict[str, str] = {}
        for name in tool.path_params:
            if name not in rest or rest[name] is None:
                raise ToolCallError(ErrorClass.FATAL, f"missing path argument {name!r}", tool=tool.name)
            values[name] = quote(_scalar(tool, name, rest.pop(name)), safe="")
        url = base + tool.path.format(**values)
        out_headers = {**self._headers, **(headers or {})}
        if idempotency_key is not None:
            out_headers["Idempotency-Key"] = idempotency_key
        if tool.method in _BODY_METHODS:
            try:
                data: bytes | None = orjson.dumps(rest)
            except TypeError as exc:
                raise ToolCallError(ErrorClass.FATAL, f"arguments are not JSON: {exc}", tool=tool.name) from None
            out_headers["Content-Type"] = "application/json"
            params: dict[str, str] = {}
        else:
            data = None
            params = {name: _scalar(tool, name, value) for name, value in rest.items() if value is not None}
        return _Request(tool.method, url, params, data, out_headers)

    async def _with_retries(
        self, tool: ToolManifest, request: _Request, idempotency_key: str | None, deadline: float | None
    ) -> ToolResult:
        limits = tool.limits
        policy = RetryPolicy(
            max_attempts=limits.max_attempts,
            base_delay=limits.retry_base_s,
            max_delay=limits.retry_cap_s,
            multiplier=2.0,
            jitter="full",
        )
        may_retry = not tool.side_effect or idempotency_key is not None
        attempts = 0
        last: _Attempt | None = None

        async def attempt() -> ToolResult:
            nonlocal attempts, last
            timeout = limits.timeout_s
            if deadline is not None:
                timeout = min(timeout, deadline - self._clock())
                if timeout <= 0:
                    # The deadline passed during a back-off: the previous attempt's error is the outcome.
                    if last is not None:
                        raise _Attempt(last.error, retryable=False, breaker_failure=last.breaker_failure)
                    error = ToolCallError(ErrorClass.TIMEOUT, "deadline passed", tool=tool.name, attempts=attempts)
                    raise _Attempt(error, retryable=False, breaker_failure=False)
            attempts += 1
            TOOL_ATTEMPTS.labels(tool=tool.name).inc()
            try:
                return await self._attempt(tool, request, timeout, attempts)
            except _Attempt as exc:
                last = exc
                raise

        def on_retry(attempt_no: int, exc: BaseException, delay: float) -> None:
            if self._on_retry is not None and isinstance(exc, _Attempt):
                self._on_retry(tool.name, attempt_no, exc.error, delay)

        return await retry_async(
            attempt,
            policy=policy,
            is_retryable=lambda exc: may_retry and isinstance(exc, _Attempt) and exc.retryable,
            deadline=deadline,
            on_retry=on_retry,
            sleep=self._sleep,
            rng=self._rng,
            clock=self._clock,
        )

    async def _attempt(self, tool: ToolManifest, request: _Request, budget_s: float, attempts: int) -> ToolResult:
        session = self._session_now()
        try:
            async with asyncio.timeout(budget_s):
                async with session.request(
                    request.method,
                    request.url,
                    params=request.params or None,
                    data=request.data,
                    headers=request.headers,
                    allow_redirects=False,
                ) as response:
                    raw = await response.read()
                    status = response.status
                    content_type = response.headers.get("Content-Type", "")
                    replayed_header = response.headers.get("Idempotent-Replayed")
        except TimeoutError:
            error = ToolCallError(
                ErrorClass.TIMEOUT, f"attempt timed out after {budget_s:.3f}s", tool=tool.name, attempts=attempts
            )
            raise _Attempt(error, retryable=True, breaker_failure=True) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            error = ToolCallError(ErrorClass.RETRYABLE, f"connection error: {exc!r}", tool=tool.name, attempts=attempts)
            raise _Attempt(error, retryable=True, breaker_failure=True) from None
        except aiohttp.ClientError as exc:
            error = ToolCallError(ErrorClass.FATAL, f"request failed: {exc!r}", tool=tool.name, attempts=attempts)
            raise _Attempt(error, retryable=False, breaker_failure=False) from None
        body = _parse(raw, content_type)
        if 200 <= status < 300:
            replayed = None if replayed_header is None else replayed_header.lower() == "true"
            return ToolResult(tool=tool.name, status=status, body=body, attempts=attempts, replayed=replayed)
        retryable = _retryable(status, body)
        error = ToolCallError(
            ErrorClass.RETRYABLE if retryable else ErrorClass.FATAL,
            f"backend answered {status}",
            tool=tool.name,
            status=status,
            attempts=attempts,
            body=body,
        )
        raise _Attempt(error, retryable=retryable, breaker_failure=status >= 500 or status == 429)

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No connection limit here: the bulkheads bound concurrency, and a connector limit would
            # be a hidden queue (aiohttp's default is 100 connections, waiting without a bound).
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        return self._session


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    params: dict[str, str]
    data: bytes | None
    headers: dict[str, str]


def _is_breaker_failure(exc: BaseException) -> bool:
    return exc.breaker_failure if isinstance(exc, _Attempt) else not isinstance(exc, ToolCallError)


def _scalar(tool: ToolManifest, name: str, value: Any) -> str:
    """A path or query argument as text (bool as true/false); anything nested is refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ToolCallError(ErrorClass.FATAL, f"argument {name!r} must be a scalar in the URL", tool=tool.name)


def _parse(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw.decode("utf-8", errors="replace")


def _retryable(status: int, body: Any) -> bool:
    """5xx and 429 (unless the body says `"retryable": false`), 409 only if the body says true; no other 4xx."""
    marked: bool | None = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        flag = body["error"].get("retryable")
        if isinstance(flag, bool):
            marked = flag
    if status >= 500 or status == 429:
        return marked is not False
    if status == 409:
        return marked is True
    return False
