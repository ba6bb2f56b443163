"""OpenAI-format upstreams (OpenAI and any compatible server) through a byte-level aiohttp pass-through.

The request body is re-encoded once with the deployment's model; responses are
forwarded as the provider sent them, parsing only what metering needs (the
usage object). The benchmark in benchmarks/ shows why this path, not the SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from gateway.catalog.schemas import Deployment
from gateway.providers.base import ChatStream, Completion, ProviderError, Usage, sse
from gateway.providers.credentials import ProviderCredentials

__all__ = ["OpenAIPassthrough", "error_from_status"]

_RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}


def error_from_status(status: int, body: bytes, retry_after: str | None) -> ProviderError:
    """Map an upstream HTTP error to a ProviderError (retryable for 408/409/429/5xx)."""
    message = body[:500].decode("utf-8", "replace")
    try:
        detail = orjson.loads(body)
        err = detail.get("error") if isinstance(detail, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            message = err["message"]
    except orjson.JSONDecodeError:
        pass  # not JSON: keep the raw text as the message
    hint: float | None = None
    if retry_after:
        try:
            hint = float(retry_after)
        except ValueError:
            hint = None
    retryable = status in _RETRYABLE or status >= 500
    code = "upstream_rate_limited" if status == 429 else "upstream_error"
    return ProviderError(
        f"upstream {status}: {message}", status=status, retryable=retryable, retry_after=hint, code=code
    )


class OpenAIPassthrough:
    """Adapter for OpenAI-format chat completions over one shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, credentials: ProviderCredentials) -> None:
        self._session = session
        self._credentials = credentials

    def _headers(self, deployment: Deployment) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._credentials.key_for(deployment)}",
            "Content-Type": "application/json",
        }

    async def complete(self, deployment: Deployment, request: dict[str, Any], timeout_s: float) -> Completion:
        body = orjson.dumps({**request, "model": deployment.model, "stream": False})
        try:
            async with asyncio.timeout(timeout_s):
                async with self._session.post(
                    f"{deployment.base_url}/chat/completions",
                    data=body,
                    headers=self._headers(deployment),
                    # A redirect would take the key to a host its credential was not checked against.
                    allow_redirects=False,
                ) as resp:
                    raw = await resp.read()
                    if resp.status >= 400:
                        raise error_from_status(resp.status, raw, resp.headers.get("retry-after"))
        except TimeoutError as exc:
            raise ProviderError("upstream timed out", status=504, retryable=True, code="upstream_timeout") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(f"upstream connection failed: {exc!r}", status=502, retryable=True) from exc
        try:
            usage = orjson.loads(raw).get("usage") or {}
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise ProviderError("upstream sent invalid JSON", status=502, retryable=True) from exc
        return Completion(raw, Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)))

    async def open_stream(self, deployment: Deployment, request: dict[str, Any], timeout_s: float) -> ChatStream:
        # Always ask for usage upstream: metering needs it even when the client did not.
        payload = {**request, "model": deployment.model, "stream": True}
        payload["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
        try:
            async with asyncio.timeout(timeout_s):
                resp = await self._session.post(
                    f"{deployment.base_url}/chat/completions",
                    data=orjson.dumps(payload),
                    headers=self._headers(deployment),
                    allow_redirects=False,
                )
                if resp.status >= 400:
                    raw = await resp.read()
                    resp.release()
                    raise error_from_status(resp.status, raw, resp.headers.get("retry-after"))
        except TimeoutError as exc:
            raise ProviderError("upstream timed out", status=504, retryable=True, code="upstream_timeout") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(f"upstream connection failed: {exc!r}", status=502, retryable=True) from exc
        stream = ChatStream(closer=_closer(resp))
        stream.events = _relay(resp, stream, timeout_s)
        return stream


def _closer(resp: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        resp.close()

    return close


async def _relay(resp: aiohttp.ClientResponse, stream: ChatStream, idle_timeout_s: float) -> AsyncIterator[bytes]:
    """Yield content events; capture the usage chunk; raise if the stream ends without [DONE]."""
    content_chunks = 0
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    line = await resp.content.readline()
            except TimeoutError as exc:
                raise ProviderError("upstream stream stalled", status=504, retryable=True) from exc
            except aiohttp.ClientError as exc:
                raise ProviderError(f"upstream stream broke: {exc!r}", status=502, retryable=True) from exc
            if not line:
                raise ProviderError("upstream stream ended before [DONE]", status=502, retryable=True)
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                stream.completed = True
                return
            if b'"usage"' in data and b'"choices":[]' in data.replace(b" ", b""):
                usage = orjson.loads(data).get("usage") or {}
                stream.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
                stream.usage_chunk = sse(data)
                continue
            content_chunks += 1
            if not stream.usage.exact:
                stream.usage.tokens_out = content_chunks
            yield sse(data)
    finally:
        resp.close()
