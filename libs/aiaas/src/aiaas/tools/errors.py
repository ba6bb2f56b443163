"""Error classes of a tool call and the typed error the adapter raises."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["ErrorClass", "ToolCallError"]


class ErrorClass(enum.StrEnum):
    """How a tool call failed (the names of issue 15's `tool.call.failed` events).

    - `retryable`: the backend failed in a way a later call with the same idempotency key may
      cure (5xx, 429, a 409 it marks retryable, a connection error), and the adapter's attempts
      are spent (or it could not retry: a side-effecting call without a key);
    - `fatal`: the backend refused the call (a 4xx it does not mark retryable), or the call
      could not be made (bad arguments): calling again will not help;
    - `timeout`: the last attempt timed out, or the call's deadline passed (for a side-effecting
      call the effect may have happened: call again with the same key to learn its result);
    - `circuit_open`: the dependency's breaker refused the call; the backend was not called;
    - `bulkhead_full`: the tool already had its limit of calls in flight; the backend was not called.
    """

    RETRYABLE = "retryable"
    FATAL = "fatal"
    TIMEOUT = "timeout"
    CIRCUIT_OPEN = "circuit_open"
    BULKHEAD_FULL = "bulkhead_full"


class ToolCallError(Exception):
    """A tool call that did not succeed.

    `status` is the backend's last HTTP status (None when none came); `attempts` counts the
    requests sent (0 for `circuit_open`/`bulkhead_full`); `body` is the backend's error body
    (parsed JSON, else text); `code` its `error.code` when it has one; `retry_after_s` is
    the breaker's remaining cool-down for `circuit_open`.
    """

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        tool: str,
        status: int | None = None,
        attempts: int = 0,
        body: Any = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{tool}: {error_class.value}: {message}")
        self.error_class = error_class
        self.tool = tool
        self.status = status
        self.attempts = attempts
        self.body = body
        self.retry_after_s = retry_after_s

    @property
    def code(self) -> str | None:
        """The backend's `error.code` (the platform's error shape), if its body has one."""
        if isinstance(self.body, dict):
            error = self.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                return str(error["code"])
        return None
