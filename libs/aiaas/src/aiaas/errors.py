"""One error tree for every service, rendered in OpenAI's shape.

    PlatformError                 status, type, code, message, param, headers
    ├── BadRequest          400   invalid_request_error
    ├── Unauthorized        401   authentication_error (code invalid_api_key)
    ├── Forbidden           403   permission_error
    ├── NotFound            404   not_found_error
    ├── PayloadTooLarge     413   invalid_request_error
    ├── Unprocessable       422   invalid_request_error
    ├── RateLimited         429   rate_limit_error (Retry-After header)
    ├── UpstreamError       502   api_error
    └── ServiceUnavailable  503   api_error

Body: `{"error": {"type", "code", "message", "param"}}`. `install_error_handlers`
renders every failure in that shape: our errors, request validation (400 for
unparseable JSON, else 422), Starlette's HTTP errors (404 route, 405 method) and
anything unhandled (500, traceback logged, never sent). Validation messages never
echo the input, and text from the request is escaped before rendering, so a lone
surrogate such as "\\ud800" in a body can't turn a 4xx into a 500.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "PlatformError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Unprocessable",
    "RateLimited",
    "UpstreamError",
    "ServiceUnavailable",
    "error_body",
    "install_error_handlers",
    "BodySizeLimitMiddleware",
    "body_too_large_message",
]

_log = logging.getLogger(__name__)

_MAX_TEXT = 200
_MAX_LISTED_ERRORS = 3


class PlatformError(Exception):
    """Base error: carries its HTTP status and renders one JSON shape."""

    status: int = 500
    type: str = "api_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.headers = headers
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def body(self) -> dict[str, Any]:
        """The JSON body, `{"error": {...}}`."""
        return error_body(self.type, self.code, self.message, self.param)

    def to_response(self) -> Response:
        """A JSON response with this error's status, body and headers."""
        return _json(self.status, self.body(), self.headers)


class BadRequest(PlatformError):
    status = 400
    type = "invalid_request_error"
    default_code = "invalid_request"


class Unauthorized(PlatformError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class Forbidden(PlatformError):
    status = 403
    type = "permission_error"
    default_code = "forbidden"


class NotFound(PlatformError):
    status = 404
    type = "not_found_error"
    default_code = "not_found"


class PayloadTooLarge(PlatformError):
    status = 413
    type = "invalid_request_error"
    default_code = "payload_too_large"


class Unprocessable(PlatformError):
    status = 422
    type = "invalid_request_error"
    default_code = "invalid_request"


class _RetryAfterError(PlatformError):
    """An error that may tell the client when to come back (`Retry-After`, whole seconds)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        if retry_after is not None:
            headers = dict(self.headers or {})
            headers.setdefault("Retry-After", str(max(1, math.ceil(retry_after))))
            self.headers = headers


class RateLimited(_RetryAfterError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(PlatformError):
    status = 502
    type = "api_error"
    default_code = "upstream_error"


class ServiceUnavailable(_RetryAfterError):
    status = 503
    type = "api_error"
    default_code = "service_unavailable"


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def body_too_large_message(max_bytes: int) -> str:
    """The one 413 message, for the middleware and for routes that read their body themselves."""
    return f"Request body exceeds the limit of {max_bytes} bytes."


def _safe(text: str, limit: int = _MAX_TEXT) -> str:
    """`text` made encodable (lone surrogates escaped) and cut to `limit` characters."""
    cleaned = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    try:
        content = orjson.dumps(body)
    except TypeError:
        # Text we did not build ourselves (an exception message) may hold lone surrogates.
        err = body["error"]
        content = orjson.dumps(
            error_body(
                _safe(str(err["type"])),
                _safe(str(err["code"])),
                _safe(str(err["message"]), 2000),
                None if err.get("param") is None else _safe(str(err["param"])),
            )
        )
    return Response(content, status_code=status, media_type="application/json", headers=headers)


def _loc(err: dict[str, Any]) -> str:
    return ".".join(_safe(str(part), 60) for part in err.get("loc", ()) if part != "body")


def _validation_response(exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        invalid = BadRequest("We could not parse the JSON body of your request.", code="invalid_json")
        return invalid.to_response()
    # Only the location and pydantic's message: `input` and `ctx` may echo what the client sent.
    parts = [f"{_loc(err) or 'body'}: {_safe(str(err.get('msg', 'invalid value')))}" for err in errors]
    message = "; ".join(parts[:_MAX_LISTED_ERRORS])
    if len(parts) > _MAX_LISTED_ERRORS:
        message += f" (and {len(parts) - _MAX_LISTED_ERRORS} more)"
    param = (_loc(errors[0]) or None) if errors else None
    return Unprocessable(f"Invalid request: {message}", param=param).to_response()


_HTTP_CODES = {
    400: ("invalid_request_error", "invalid_request"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
}


def _http_response(exc: StarletteHTTPException) -> Response:
    type_, code = _HTTP_CODES.get(
        exc.status_code,
        ("invalid_request_error" if exc.status_code < 500 else "api_error", f"http_{exc.status_code}"),
    )
    detail = _safe(exc.detail, 2000) if isinstance(exc.detail, str) else "request failed"
    return _json(exc.status_code, error_body(type_, code, detail), exc.headers)


def _internal_error() -> Response:
    return _json(500, error_body("api_error", "internal_error", "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    """Render every failure of `app` as `{"error": {...}}`; unhandled errors become a logged 500."""

    async def platform(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlatformError)
        return exc.to_response()

    async def validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc)

    async def http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _http_response(exc)

    async def unhandled(request: Request, exc: Exception) -> Response:
        # Reached only for errors raised outside _UnhandledErrorMiddleware (in outer middleware).
        _log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return _internal_error()

    app.add_exception_handler(PlatformError, platform)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unhandled)
    app.add_middleware(_UnhandledErrorMiddleware)


class _UnhandledErrorMiddleware:
    """Turns an exception escaping the app into one logged 500, before any byte was sent.

    Starlette's own 500 handler re-raises after answering, which makes the server log the same
    error a second time; here it is logged once, with the request path and the current trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The client went away mid-request: nobody to answer, nothing went wrong here.
            _log.debug("client disconnected", extra={"path": scope.get("path")})
            return
        except Exception as exc:
            if started:
                raise  # too late for a JSON answer: let the server log it and drop the connection
            _log.error("unhandled error", exc_info=exc, extra={"path": scope.get("path")})
            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            await _internal_error()(scope, receive, send)


class BodySizeLimitMiddleware:
    """Answers 413 when Content-Length, or the streamed (chunked) body, exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the server rejects a malformed length itself
        return 0

    def _message(self) -> str:
        return body_too_large_message(self.max_bytes)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PayloadTooLarge(self._message()).to_response()(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    """Raised inside receive() when a streamed body passes the limit.

    An HTTPException because FastAPI re-raises those from its body parsing (anything else
    becomes a 400 "error parsing the body"); the installed handler renders it as 413.
    """

    def __init__(self, message: str) -> None:
        super().__init__(413, message)
