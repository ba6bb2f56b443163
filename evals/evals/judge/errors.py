"""The judge's errors. The gate turns every `JudgeError` into exit code 2 (an error, never a score):

JudgeError
├── JudgeParseError       the judge's reply is not the verdict the response format asks for
├── JudgeCallCapExceeded  this run would make more judge calls than `JudgeSettings.max_calls`
└── JudgeCallError        the gateway refused the call or could not be reached
"""

from __future__ import annotations

__all__ = ["JudgeCallCapExceeded", "JudgeCallError", "JudgeError", "JudgeParseError"]


class JudgeError(RuntimeError):
    """A judge score could not be produced; the gate reports an error, not a low score."""


class JudgeParseError(JudgeError):
    """The judge's reply cannot be read as one verdict per rubric criterion (`reply` holds what came back)."""

    def __init__(self, message: str, reply: str = "") -> None:
        self.reply = reply
        super().__init__(message)


class JudgeCallCapExceeded(JudgeError):
    """A run asked for more judge calls than its cap allows; the call was not made."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        super().__init__(f"judge call cap reached: this run may make at most {cap} judge calls")


class JudgeCallError(JudgeError):
    """The gateway did not answer the judge call (unreachable, or an HTTP error status)."""
