"""The toolbox's errors: the platform's shape (`{"error": {"type", "code", "message", "param"}}`) plus
`retryable`, so a tool adapter can classify a failure without a table of codes.

Retryable: 5xx, 429 and 409 `idempotency_key_in_use` (another request with the key is still running: retry the
same key later, as Stripe's SDKs do). Everything else in 4xx is fatal: retrying the same call cannot succeed.
"""

from __future__ import annotations

from typing import Any

from aiaas.errors import PlatformError

__all__ = ["ToolboxError", "conflict", "invalid", "not_found", "unprocessable"]

_TYPES = {
    400: "invalid_request_error",
    402: "request_failed_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ToolboxError(PlatformError):
    """An error answered to the caller; 4xx are fatal unless `retryable` says otherwise, 5xx retryable."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        error_type = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        super().__init__(message, code=code, param=param, headers=headers, status=status, type=error_type)
        self.retryable = retryable if retryable is not None else status >= 500 or status == 429

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["retryable"] = self.retryable
        return body


def invalid(code: str, message: str, param: str | None = None) -> ToolboxError:
    """400: a malformed header or request."""
    return ToolboxError(400, code, message, param=param)


def not_found(what: str, ident: str) -> ToolboxError:
    """404 `<what>_not_found` (for this tenant: another tenant's objects do not exist here)."""
    return ToolboxError(404, f"{what}_not_found", f"No {what.replace('_', ' ')} {ident!r}.")


def conflict(code: str, message: str, param: str | None = None) -> ToolboxError:
    """409: the request contradicts the current state (fatal: the same call fails again)."""
    return ToolboxError(409, code, message, param=param)


def unprocessable(code: str, message: str, param: str | None = None) -> ToolboxError:
    """422: well-formed, but the business system refuses it."""
    return ToolboxError(422, code, message, param=param)
