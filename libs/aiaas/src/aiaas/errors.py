"""One error tree for every service, rendered in OpenAI's shape.

    PlatformError                 status, type, code, message, param, headers
    ├── BadRequest          400   invalid_request_error
    ├── Unauthorized        401   authentication_error
    ├── Forbidden           403   permission_error
    ├── NotFound            404   not_found_error
    ├── PayloadTooLarge     413   invalid_request_error
    ├── Unprocessable       422   invalid_request_error
    ├── RateLimited         429   rate_limit_error
    ├── UpstreamError       502   api_error
    └── ServiceUnavailable  503   api_error

Body: `{"error": {"type", "code", "message", "param"}}`. Validation errors never
echo the input (lone surrogates in it would make the default handler fail).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
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
]

log = logging.getLogger(__name__)


class PlatformError(Exception):
    """Base error: carries its HTTP status and renders one JSON shape."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        type: str | None = None,  # noqa: A002 - mirrors the wire field
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.headers = headers
        if status is not None:
            self.status = status  # type: ignore[misc]
        if type is not None:
            self.type = type  # type: ignore[misc]

    def to_response(self) -> Response:
        return _json(self.status, error_body(self.type, self.code, self.message, self.param), self.headers)


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


class RateLimited(PlatformError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(PlatformError):
    status = 502
    type = "api_error"
    default_code = "upstream_error"


class ServiceUnavailable(PlatformError):
    status = 503
    type = "api_error"
    default_code = "service_unavailable"


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _validation_response(exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return BadRequest("We could not parse the JSON body of your request.", code="invalid_json").to_response()
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    first_loc = errors[0].get("loc", ()) if errors else ()
    param = ".".join(str(p) for p in first_loc if p != "body") or None
    return Unprocessable("Invalid request: " + "; ".join(parts), param=param).to_response()


_HTTP_CODES = {404: ("not_found_error", "not_found"), 405: ("invalid_request_error", "method_not_allowed")}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every failure as `{"error": {...}}`."""

    async def platform(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlatformError)
        return exc.to_response()

    async def validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc)

    async def http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        type_, code = _HTTP_CODES.get(exc.status_code, ("invalid_request_error", f"http_{exc.status_code}"))
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return _json(exc.status_code, error_body(type_, code, detail), getattr(exc, "headers", None))

    async def unhandled(_: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return _json(500, error_body("api_error", "internal_error", "internal error"))

    app.add_exception_handler(PlatformError, platform)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unhandled)


class BodySizeLimitMiddleware:
    """Answers 413 when Content-Length, or the streamed body, exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(f"Request body exceeds {self.max_bytes} bytes.")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = orjson.dumps(error_body("invalid_request_error", "payload_too_large",
                                       f"Request body exceeds {self.max_bytes} bytes."))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(PayloadTooLarge):
    """Raised inside receive() when a chunked body passes the limit."""
