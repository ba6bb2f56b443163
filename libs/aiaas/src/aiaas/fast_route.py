"""A hot route answered in front of FastAPI's middleware and router, with the app's body limit and errors.

`service_app(..., fast_routes=[handler])` mounts a `FastHandler` at its `path`: the request skips eight
generic layers (benchmarks/README.md) but keeps what they gave it, done once here: the app's body-size
limit (413), one OpenTelemetry server span (W3C context from `traceparent`), the shared error shape for
every failure (a logged 500 for a bug) and the client-disconnect handling of Starlette's
StreamingResponse (`send_event_stream`). The handler does only its own work (`serve`) and documents
itself in the app's OpenAPI schema (`document`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import Message, Receive, Scope, Send

from aiaas.errors import PayloadTooLarge, PlatformError, body_too_large_message

__all__ = ["FastHandler", "FastRequest", "FastRoute", "ClientGone", "send_json", "send_event_stream"]

log = logging.getLogger(__name__)

_TRACE_HEADERS = frozenset((b"traceparent", b"tracestate", b"baggage"))
_JSON = b"application/json"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_tracer = trace.get_tracer("aiaas.fast_route")


class ClientGone(Exception):
    """The client disconnected before the request body was complete: nobody to answer."""


@dataclass(slots=True)
class FastRequest:
    """One request on a fast route: what the handler may read (the body once, through `body()`)."""

    scope: Scope
    receive: Receive
    authorization: str | None
    state: object
    max_body_bytes: int
    span: trace.Span | None

    async def body(self) -> bytes:
        """The whole body; 413 past the app's limit, `ClientGone` if the client left first."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise PayloadTooLarge(body_too_large_message(self.max_body_bytes))
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class FastHandler(Protocol):
    """What a fast route serves: `serve` answers through `send` and returns the status it sent."""

    @property
    def path(self) -> str: ...

    async def serve(self, request: FastRequest, send: Send) -> int: ...

    def document(self, openapi: dict[str, Any]) -> None:
        """Add the route (and its schemas) to the app's OpenAPI document."""


class FastRoute:
    """The ASGI app for one `FastHandler` (POST only), mounted by `aiaas.service_app.service_app`."""

    def __init__(
        self, handler: FastHandler, *, state: Callable[[], object], max_body_bytes: int, tracing: bool
    ) -> None:
        self.handler = handler
        self._state = state
        self._max_body_bytes = max_body_bytes
        self._tracing = tracing
        self._span_name = f"POST {handler.path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization, declared_length, carrier = _read_headers(scope["headers"])
        if not self._tracing:
            await self._handle(scope, receive, send, authorization, declared_length, None)
            return
        span = _tracer.start_span(
            self._span_name,
            context=propagate.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "http.route": self.handler.path,
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
                raise PayloadTooLarge(body_too_large_message(self._max_body_bytes))
            request = FastRequest(scope, receive, authorization, self._state(), self._max_body_bytes, span)
            return await self.handler.serve(request, tracking_send)
        except ClientGone:
            log.debug("client disconnected", extra={"path": scope.get("path")})
            return 0
        except PlatformError as exc:
            if started:
                raise
            status: int = exc.status
            await send_json(send, status, _error_json(exc), (exc.headers or {}).items())
            return status
        except Exception as exc:
            if started:
                raise  # too late for a JSON answer: let the server log it and drop the connection
            log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
            if span is not None:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            await send_json(send, 500, _error_json(PlatformError("internal error")), ())
            return 500


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


async def send_json(send: Send, status: int, body: bytes, headers: Iterable[tuple[str, str]]) -> None:
    """One whole JSON response."""
    raw = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode()), *_encode_headers(headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_event_stream(
    request: FastRequest, send: Send, events: AsyncIterator[bytes], headers: Mapping[str, str]
) -> None:
    """Send `events` as SSE; stop at the next event once the client has disconnected.

    Servers on ASGI spec < 2.4 (uvicorn) drop sends after a disconnect silently, so a listener task watches
    `receive` for http.disconnect (as Starlette's StreamingResponse does); closing `events` then lets its
    producer see the end (e.g. meter the request as cancelled and close an upstream stream).
    """
    raw = [*_SSE_HEADERS, *_encode_headers(headers.items())]
    disconnected = asyncio.Event()
    receive = request.receive

    async def listen() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    listener = asyncio.ensure_future(listen())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        async for event in events:
            if disconnected.is_set():
                log.debug("client disconnected mid-stream", extra={"path": request.scope.get("path")})
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        log.debug("client disconnected mid-stream", extra={"path": request.scope.get("path")})
    finally:
        listener.cancel()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
