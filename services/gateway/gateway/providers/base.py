"""The adapter interface every provider implements, and its error type.

Requests and responses cross this seam in OpenAI's chat format: `complete`
returns the response body as bytes, `open_stream` an iterator of SSE events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.catalog.schemas import Deployment

__all__ = ["Usage", "Completion", "ChatStream", "ProviderAdapter", "ProviderError", "SSE_DONE", "sse"]

SSE_DONE = b"data: [DONE]\n\n"


def sse(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    # False when the provider never reported usage (a stream cut short) and we estimated it.
    exact: bool = True


@dataclass(frozen=True)
class Completion:
    body: bytes
    usage: Usage


@dataclass
class ChatStream:
    """An open upstream stream of OpenAI-format SSE events.

    `events` yields `data: ...\\n\\n` byte strings without the usage chunk and
    without `[DONE]`; `usage` fills in as the stream goes, and `completed` is
    set once the provider finished the stream properly.
    """

    events: AsyncIterator[bytes] | None = None
    usage: Usage = field(default_factory=lambda: Usage(exact=False))
    usage_chunk: bytes | None = None
    completed: bool = False
    # Closes the upstream response (its connection goes back to the pool or is dropped).
    closer: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        if self.closer is not None:
            await self.closer()


class ProviderError(Exception):
    """An upstream failure; `retryable` decides retry and failover, `status` what the client sees."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        retryable: bool,
        retry_after: float | None = None,
        code: str = "upstream_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code


class ProviderAdapter(Protocol):
    async def complete(self, deployment: Deployment, request: dict[str, Any], timeout_s: float) -> Completion: ...

    async def open_stream(self, deployment: Deployment, request: dict[str, Any], timeout_s: float) -> ChatStream: ...
