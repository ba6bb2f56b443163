"""Anthropic deployments through the official `anthropic` SDK (aiohttp transport), in OpenAI format."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import orjson
from anthropic import AsyncStream
from anthropic.types import RawMessageStreamEvent

from gateway.catalog.schemas import Deployment
from gateway.providers.anthropic_format import StreamTranslator, to_anthropic, to_openai_completion
from gateway.providers.base import ChatStream, Completion, ProviderError, Usage, sse
from gateway.providers.credentials import ProviderCredentials

__all__ = ["AnthropicAdapter"]


def _map_error(exc: anthropic.APIError) -> ProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError("upstream timed out", status=504, retryable=True, code="upstream_timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(f"upstream connection failed: {exc}", status=502, retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        retry_after = exc.response.headers.get("retry-after")
        hint = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        retryable = status in (408, 409, 429) or status >= 500
        code = "upstream_rate_limited" if status == 429 else "upstream_error"
        return ProviderError(
            f"upstream {status}: {exc.message}",
            status=status,
            retryable=retryable,
            retry_after=hint,
            code=code,
        )
    return ProviderError(f"upstream error: {exc}", status=502, retryable=True)


class AnthropicAdapter:
    """One SDK client per (base_url, credential), created lazily and closed at shutdown."""

    def __init__(self, credentials: ProviderCredentials) -> None:
        self._credentials = credentials
        self._clients: dict[tuple[str, str], anthropic.AsyncAnthropic] = {}

    def _client(self, deployment: Deployment) -> anthropic.AsyncAnthropic:
        key = (deployment.base_url, deployment.credentials_ref)
        client = self._clients.get(key)
        if client is None:
            client = anthropic.AsyncAnthropic(
                api_key=self._credentials.key_for(deployment),
                base_url=deployment.base_url,
                max_retries=0,  # retries and failover are the gateway's, with its deadline
                # The SDK follows redirects by default, and x-api-key would go along to the new host.
                http_client=anthropic.DefaultAioHttpClient(follow_redirects=False),
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def complete(self, deployment: Deployment, request: dict[str, Any], timeout_s: float) -> Completion:
        params = to_anthropic(request, deployment.model)
        try:
            message = await self._client(deployment).messages.create(**params, timeout=timeout_s)
        except anthropic.APIError as exc:
            raise _map_error(exc) from exc
        body = to_openai_completion(message, request["model"])
        return Completion(orjson.dumps(body), Usage(message.usage.input_tokens, message.usage.output_tokens))

    async def open_stream(self, deployment: Deployment, request: dict[str, Any], timeout_s: float) -> ChatStream:
        params = to_anthropic(request, deployment.model)
        try:
            async with asyncio.timeout(timeout_s):
                upstream = await self._client(deployment).messages.create(**params, stream=True, timeout=timeout_s)
        except TimeoutError as exc:
            raise ProviderError("upstream timed out", status=504, retryable=True, code="upstream_timeout") from exc
        except anthropic.APIError as exc:
            raise _map_error(exc) from exc
        stream = ChatStream(closer=upstream.close)
        stream.events = _relay(upstream, stream, StreamTranslator(request["model"]), timeout_s)
        return stream


async def _relay(
    upstream: AsyncStream[RawMessageStreamEvent],
    stream: ChatStream,
    translator: StreamTranslator,
    idle_timeout_s: float,
) -> AsyncIterator[bytes]:
    iterator = upstream.__aiter__()
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    event = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise ProviderError("upstream stream stalled", status=504, retryable=True) from exc
            except anthropic.APIError as exc:
                raise _map_error(exc) from exc
            for payload in translator.translate(event):
                yield sse(payload)
            stream.usage = Usage(translator.tokens_in, translator.tokens_out, exact=translator.finished)
        if not translator.finished:
            raise ProviderError("upstream stream ended before message_stop", status=502, retryable=True)
        stream.usage_chunk = sse(translator.usage_chunk())
        stream.completed = True
    finally:
        await upstream.close()
