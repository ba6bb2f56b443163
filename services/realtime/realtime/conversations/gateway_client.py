"""Streams a chat completion from the gateway with the client's own API key (aiohttp).

Going through the gateway's public API means metering, rate limits and quotas apply
exactly as for REST; its errors come back as `GatewayError` with the gateway's code.
Each call is a CLIENT span whose `traceparent` goes with the request, so the gateway's
spans (down to the provider call) join the reply's trace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = ["GatewayError", "Chunk", "GatewayClient"]

_PATH = "/v1/chat/completions"
_tracer = trace.get_tracer("realtime.gateway_client")


class GatewayError(Exception):
    """The gateway refused or failed the request: its HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Chunk:
    """A text delta, or (at the end) the usage of the whole request."""

    delta: str = ""
    usage: dict[str, Any] | None = None


def _error_from(status: int, raw: bytes) -> GatewayError:
    try:
        err = orjson.loads(raw)["error"]
        return GatewayError(status, str(err.get("code") or "gateway_error"), str(err.get("message") or ""))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return GatewayError(status, "gateway_error", f"The gateway answered HTTP {status}.")


class GatewayClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + _PATH

    async def stream(self, api_key: str, model: str, messages: list[dict[str, str]]) -> AsyncIterator[Chunk]:
        """Yield the reply's deltas, then one chunk with the usage; raises `GatewayError`."""
        body = {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        # Not made current: this generator is resumed from its consumer, so the span is ended here, by hand.
        span = _tracer.start_span(
            f"POST {_PATH}", kind=SpanKind.CLIENT, attributes={"http.request.method": "POST", "url.full": self._url}
        )
        propagate.inject(headers, context=trace.set_span_in_context(span))
        try:
            async for chunk in self._stream(body, headers, span):
                yield chunk
        except GatewayError as exc:
            span.set_attribute("error.type", exc.code)
            span.set_status(Status(StatusCode.ERROR, exc.message))
            raise
        finally:
            span.end()

    async def _stream(self, body: dict[str, Any], headers: dict[str, str], span: trace.Span) -> AsyncIterator[Chunk]:
        try:
            async with self._http.post(self._url, data=orjson.dumps(body), headers=headers) as resp:
                span.set_attribute("http.response.status_code", resp.status)
                if resp.status != 200:
                    raise _error_from(resp.status, await resp.content.read(65_536))
                async for line in resp.content:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    chunk = _parse(data)
                    if chunk is not None:
                        yield chunk
        except aiohttp.ClientError as exc:
            raise GatewayError(502, "gateway_unreachable", f"The gateway failed: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise GatewayError(504, "gateway_timeout", "The gateway stopped sending.") from exc
        raise GatewayError(502, "stream_incomplete", "The gateway stream ended without [DONE].")


def _parse(data: bytes) -> Chunk | None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "bad_gateway_stream", "The gateway sent an unreadable chunk.") from None
    if "error" in obj:
        raise _error_from(502, data)
    usage = obj.get("usage")
    text = "".join((choice.get("delta") or {}).get("content") or "" for choice in obj.get("choices") or ())
    if usage:
        return Chunk(text, usage)
    return Chunk(text) if text else None
