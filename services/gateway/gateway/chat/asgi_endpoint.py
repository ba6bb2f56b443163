"""POST /v1/chat/completions as a plain ASGI endpoint, served in front of FastAPI's middleware and router.

The hot route does what the generic stack did for it, once and without layers: the body-size limit (413),
one OpenTelemetry server span (W3C context from `traceparent`), the OpenAI error shape for every failure
(a logged 500 for a bug), and the client-disconnect handling of Starlette's StreamingResponse. Everything
else about a request (auth, validation, limits and quota, failover, metering) is `ChatCall`'s, as before.
The route is documented in the OpenAPI schema by `document_route` (app.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import Message, Receive, Scope, Send

from aiaas.errors import PayloadTooLarge, PlatformError, error_body
from aiaas.scopes import CHAT
from gateway.chat.schemas import ChatCompletionRequest
from gateway.chat.service import ChatCall, parse_request
from gateway.providers.base import Completion
from gateway.state import GatewayState

__all__ = ["CHAT_COMPLETIONS_PATH", "ChatCompletionsEndpoint", "document_route"]

log = logging.getLogger(__name__)

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
_SPAN_NAME = f"POST {CHAT_COMPLETIONS_PATH}"
_TRACE_HEADERS = frozenset((b"traceparent", b"tracestate", b"baggage"))
_JSON = b"application/json"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_tracer = trace.get_tracer("gateway.http")


class _ClientGone(Exception):
    """The client disconnected before the request body was complete: nobody to answer."""


class ChatCompletionsEndpoint:
    """The ASGI app for CHAT_COMPLETIONS_PATH (any method; only POST is allowed)."""

    def __init__(self, state: Callable[[], GatewayState], *, max_body_bytes: int, tracing: bool) -> None:
        self._state = state
        self._max_body_bytes = max_body_bytes
        self._tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization, declared_length, carrier = _read_headers(scope["headers"])
        if not self._tracing:
            await self._handle(scope, receive, send, authorization, declared_length, None)
            return
        span = _tracer.start_span(
            _SPAN_NAME,
            context=propagate.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "http.route": CHAT_COMPLETIONS_PATH,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
        )
        try:
            # What trace.use_span(end_on_exit=False, record_exception=False, ...) does, minus its layers.
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                status = await self._handle(scope, receive, send, authorization, declared_length, span)
            finally:
                otel_context.detach(token)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        finally:
            span.end()

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        authorization: str | None,
        declared_length: int,
        span: trace.Span | None,
    ) -> int:
        """Serve one request; returns the status sent (0 when the client left before an answer)."""
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            if scope["method"] != "POST":
                raise PlatformError(
                    "Method Not Allowed",
                    status=405,
                    type="invalid_request_error",
                    code="method_not_allowed",
                    headers={"Allow": "POST"},
                )
            if declared_length > self._max_body_bytes:
                raise PayloadTooLarge(self._too_large())
            # Credentials before the body is parsed: an unauthenticated caller learns nothing about it.
            state = self._state()
            principal = await state.resolver.resolve(authorization)
            # The route's scope, checked here (not by aiaas.auth.require_scope: no FastAPI on this path).
            principal.require(CHAT)
            chat_request, payload = parse_request(await self._body(receive))
            call = ChatCall(state, principal, chat_request, payload)
            alias = call.resolve_alias()
            await call.admit()
            served = await call.serve(alias)
            if isinstance(served.result, Completion):
                # Metered (written ahead to the WAL: one write, no fsync) before a byte of the answer leaves,
                # so a kill after the client has its answer cannot lose the usage; publishing stays off-path.
                call.record_completion(served.result)
                await _respond(tracking_send, 200, served.result.body, call.response_headers().items())
                return 200
            try:
                await _stream(scope, receive, tracking_send, call.stream_events(served), call.response_headers())
            finally:
                call.ensure_recorded(served)
            return 200
        except _ClientGone:
            log.debug("client disconnected", extra={"path": scope.get("path")})
            return 0
        except PlatformError as exc:
            if started:
                raise
            await _respond(send, exc.status, _error_json(exc), (exc.headers or {}).items())
            return exc.status
        except Exception as exc:
            if started:
                raise  # too late for a JSON answer: let the server log it and drop the connection
            log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
            if span is not None:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            await _respond(send, 500, _error_json(PlatformError("internal error")), ())
            return 500

    async def _body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise PayloadTooLarge(self._too_large())
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self) -> str:
        return f"Request body exceeds the limit of {self._max_body_bytes} bytes."


def _read_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, int, dict[str, str]]:
    """(Authorization, Content-Length or 0, trace-context carrier) in one pass over the raw headers."""
    authorization: str | None = None
    length = 0
    carrier: dict[str, str] = {}
    for name, value in headers:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = 0  # the server rejects a malformed length itself
        elif name in _TRACE_HEADERS:
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    return authorization, length, carrier


def _error_json(exc: PlatformError) -> bytes:
    response = exc.to_response()  # escapes text that orjson refuses (lone surrogates)
    return bytes(response.body)


def _encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _respond(send: Send, status: int, body: bytes, headers: Iterable[tuple[str, str]]) -> None:
    raw = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode()), *_encode_headers(headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _stream(
    scope: Scope, receive: Receive, send: Send, events: AsyncIterator[bytes], headers: Mapping[str, str]
) -> None:
    """Send `events` as SSE; stop at the next event once the client has disconnected.

    Servers on ASGI spec < 2.4 (uvicorn) drop sends after a disconnect silently, so a listener task watches
    `receive` for http.disconnect (as Starlette's StreamingResponse does); closing `events` then meters the
    request as cancelled and closes the upstream stream.
    """
    raw = [*_SSE_HEADERS, *_encode_headers(headers.items())]
    disconnected = asyncio.Event()

    async def listen() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    listener = asyncio.ensure_future(listen())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        async for event in events:
            if disconnected.is_set():
                log.debug("client disconnected mid-stream", extra={"path": scope.get("path")})
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        log.debug("client disconnected mid-stream", extra={"path": scope.get("path")})
    finally:
        listener.cancel()
        await _close(events)


async def _close(events: AsyncIterator[bytes]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


def document_route(openapi: dict[str, Any]) -> None:
    """Describe the endpoint and its request model in the OpenAPI schema (it has no FastAPI route)."""
    components = openapi.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["ChatCompletionRequest"] = schema
    error = {
        "description": "OpenAI-shape error",
        "content": {"application/json": {"example": error_body("invalid_request_error", "invalid_request", "...")}},
    }
    openapi.setdefault("paths", {})[CHAT_COMPLETIONS_PATH] = {
        "post": {
            "tags": ["chat"],
            "summary": "Create Chat Completion",
            "description": "Create a chat completion (OpenAI-compatible; `stream: true` answers with SSE).",
            "operationId": "create_chat_completion_v1_chat_completions_post",
            "security": [{"HTTPBearer": [CHAT]}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
            },
            "responses": {
                "200": {
                    "description": "A `chat.completion` object, or with `stream: true` a stream of "
                    "`chat.completion.chunk` server-sent events ending with `data: [DONE]`",
                    "content": {"application/json": {}, "text/event-stream": {}},
                },
                **{str(code): error for code in (400, 401, 403, 404, 413, 422, 429, 502, 503, 504)},
            },
        }
    }
    components.setdefault("securitySchemes", {}).setdefault("HTTPBearer", {"type": "http", "scheme": "bearer"})
