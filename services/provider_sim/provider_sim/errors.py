"""One error type for the simulator, rendered in OpenAI's or Anthropic's wire shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import ValidationError
from starlette.responses import Response

__all__ = ["ErrorKind", "Provider", "SimError", "error_response", "validation_error"]

Provider = Literal["openai", "anthropic"]
ErrorKind = Literal["invalid_request", "authentication", "not_found", "rate_limit", "server", "overloaded", "timeout"]


@dataclass(frozen=True, slots=True)
class _WireError:
    """How one error kind looks on each provider's wire."""

    openai_status: int
    openai_type: str
    openai_code: str | None
    anthropic_status: int
    anthropic_type: str


_WIRE: dict[ErrorKind, _WireError] = {
    "invalid_request": _WireError(400, "invalid_request_error", None, 400, "invalid_request_error"),
    "authentication": _WireError(401, "invalid_request_error", "invalid_api_key", 401, "authentication_error"),
    "not_found": _WireError(404, "invalid_request_error", "not_found", 404, "not_found_error"),
    "rate_limit": _WireError(429, "requests", "rate_limit_exceeded", 429, "rate_limit_error"),
    "server": _WireError(500, "server_error", None, 500, "api_error"),
    "overloaded": _WireError(503, "server_error", "overloaded", 529, "overloaded_error"),
    "timeout": _WireError(504, "server_error", "timeout", 504, "timeout_error"),
}


class SimError(Exception):
    """An error answered to the client; `param` names the offending field (OpenAI shape)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.param = param
        self.headers = headers or {}

    def status_for(self, provider: Provider) -> int:
        """HTTP status on `provider`'s wire."""
        wire = _WIRE[self.kind]
        return wire.openai_status if provider == "openai" else wire.anthropic_status

    def body_for(self, provider: Provider, request_id: str) -> dict[str, object]:
        """JSON body on `provider`'s wire."""
        wire = _WIRE[self.kind]
        if provider == "openai":
            error = {"message": self.message, "type": wire.openai_type, "param": self.param}
            return {"error": {**error, "code": wire.openai_code}}
        return {
            "type": "error",
            "error": {"type": wire.anthropic_type, "message": self.message},
            "request_id": request_id,
        }


def error_response(error: SimError, provider: Provider, request_id: str) -> Response:
    """Render `error` as a JSON response in `provider`'s shape."""
    id_header = "x-request-id" if provider == "openai" else "request-id"
    return Response(
        orjson.dumps(error.body_for(provider, request_id)),
        status_code=error.status_for(provider),
        media_type="application/json",
        headers={id_header: request_id, **error.headers},
    )


def validation_error(exc: ValidationError) -> SimError:
    """A 400 naming the first invalid field of a request body."""
    first = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"])
    message = f"{location}: {first['msg']}" if location else str(first["msg"])
    return SimError("invalid_request", message, param=location or None)
