"""One error type for the stand-in, rendered in Stripe's wire shape.

    StripeError               status, type, code, message, param (+ decline_code)
    └── ParamError       400  invalid_request_error; raised before an endpoint runs

Body: `{"error": {"type", "code", "message", "param", ...}}`, the shape the official SDK
turns into `InvalidRequestError`, `AuthenticationError`, `IdempotencyError`, `CardError`,
`RateLimitError` or `APIError`. A `ParamError` means no endpoint began executing, so, as
on Stripe, no idempotent result is saved for it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ParamError", "StripeError", "resource_missing"]


class StripeError(Exception):
    """An error answered to the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        """Stripe's error object (`request_log_url` points nowhere useful: there is no dashboard)."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


class ParamError(StripeError):
    """A request parameter is missing, unknown or malformed (400, never saved for idempotency)."""

    def __init__(self, message: str, *, param: str | None, code: str = "parameter_invalid") -> None:
        super().__init__(400, message, code=code, param=param)


def resource_missing(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's error for an unknown object id: 404 in the path, 400 when a parameter names it."""
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
