"""Answers in and out of the cache: taken from a live reply (JSON or SSE), replayed in a live reply's shape.

A hit answers exactly as a live request would: a `chat.completion` JSON body, or `chat.completion.chunk`
events (role first, the content in chunks, the finish reason, the usage chunk when the client asked for
`stream_options.include_usage`, then `[DONE]`). Both OpenAI- and Anthropic-backed aliases answer in
OpenAI's format at the gateway, so one replay serves both.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from gateway.cache.schemas import CachedAnswer
from gateway.providers.base import SSE_DONE, Usage, sse

__all__ = ["answer_from_completion", "answer_from_stream", "completion_body", "replay", "stream_events"]

_COMPLETE = frozenset({"stop", "length"})
# Word-ish pieces, whitespace kept, so the pieces join back to the exact text.
_PIECES = re.compile(r"\S*\s*")
_CHUNK_CHARS = 24


def _usable(message: Any, finish_reason: Any) -> str | None:
    if finish_reason not in _COMPLETE or not isinstance(message, dict):
        return None
    content = message.get("content")
    if not isinstance(content, str) or message.get("tool_calls") or message.get("function_call"):
        return None
    return content


def answer_from_completion(body: bytes) -> CachedAnswer | None:
    """The answer of a `chat.completion` body, or None when it is not a complete single text answer."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    choices = data.get("choices")
    usage = data.get("usage")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(usage, dict):
        return None
    choice = choices[0]
    if not isinstance(choice, dict):
        return None
    content = _usable(choice.get("message"), choice.get("finish_reason"))
    if content is None:
        return None
    return CachedAnswer(
        content=content,
        finish_reason=str(choice["finish_reason"]),
        model=str(data.get("model") or ""),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def _frames(events: Iterable[bytes]) -> Iterable[bytes]:
    """The JSON payloads of `data:` frames (an event may hold several: failover sends held-back ones as one)."""
    for event in events:
        for frame in event.split(b"\n\n"):
            if frame.startswith(b"data: {"):
                yield frame[6:]


def answer_from_stream(events: Iterable[bytes], usage: Usage) -> CachedAnswer | None:
    """The answer carried by a finished stream's content events (`data: {...}` frames), or None."""
    parts: list[str] = []
    finish_reason: Any = None
    model = ""
    for frame in _frames(events):
        try:
            chunk = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return None
        model = model or str(chunk.get("model") or "")
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                return None
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("function_call"):
                return None
            content = delta.get("content")
            if isinstance(content, str):
                parts.append(content)
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
    if finish_reason not in _COMPLETE or not usage.exact:
        return None
    return CachedAnswer("".join(parts), str(finish_reason), model, usage.tokens_in, usage.tokens_out)


def _completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def _usage(answer: CachedAnswer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def completion_body(answer: CachedAnswer) -> bytes:
    """A `chat.completion` JSON body carrying the cached answer."""
    return orjson.dumps(
        {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _usage(answer),
        }
    )


def _pieces(content: str) -> list[str]:
    """The content in chunks of about `_CHUNK_CHARS` characters, cut between words; they join to `content`."""
    chunks: list[str] = []
    current = ""
    for piece in _PIECES.findall(content):
        if current and len(current) + len(piece) > _CHUNK_CHARS:
            chunks.append(current)
            current = ""
        current += piece
    if current:
        chunks.append(current)
    return chunks


def stream_events(answer: CachedAnswer, include_usage: bool) -> list[bytes]:
    """The SSE frames of a streamed reply carrying the cached answer, `[DONE]` last."""
    head = {"id": _completion_id(), "object": "chat.completion.chunk", "created": int(time.time())}
    head["model"] = answer.model

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse(orjson.dumps({**head, "choices": [choice]}))

    events = [chunk({"role": "assistant", "content": ""})]
    events.extend(chunk({"content": piece}) for piece in _pieces(answer.content))
    events.append(chunk({}, answer.finish_reason))
    if include_usage:
        events.append(sse(orjson.dumps({**head, "choices": [], "usage": _usage(answer)})))
    events.append(SSE_DONE)
    return events


async def replay(events: list[bytes]) -> AsyncIterator[bytes]:
    """`events` as the async iterator a streamed reply sends."""
    for event in events:
        yield event
