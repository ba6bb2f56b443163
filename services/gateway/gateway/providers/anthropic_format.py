"""Translation between OpenAI chat format and Anthropic Messages, both directions, streaming included."""

from __future__ import annotations

import time
from typing import Any

import orjson
from anthropic.types import Message, RawMessageStreamEvent

from gateway.providers.base import ProviderError

__all__ = ["to_anthropic", "to_openai_completion", "StreamTranslator", "FINISH_REASONS"]

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}
_DEFAULT_MAX_TOKENS = 1024


def _bad(message: str) -> ProviderError:
    return ProviderError(message, status=400, retryable=False, code="unsupported_for_provider")


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        else:
            raise _bad("Only text content parts are supported for this model.")
    return "".join(parts)


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = message.get("role")
    if role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id") or ""),
                "content": _text_of(message.get("content")),
            }
        ]
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError as exc:
            raise _bad("tool_calls arguments must be a JSON object") from exc
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": args})
    return blocks


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return {"type": "auto"} if choice else None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": choice["function"].get("name")}
    raise _bad("Unsupported tool_choice for this model.")


def to_anthropic(request: dict[str, Any], model: str) -> dict[str, Any]:
    """OpenAI chat request -> Anthropic Messages create() parameters."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request["messages"]:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
            continue
        target = "assistant" if role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        # Anthropic wants alternating turns: merge consecutive same-role messages.
        if messages and messages[-1]["role"] == target:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": target, "content": blocks})
    if not messages:
        raise _bad("At least one user or assistant message is required for this model.")
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.get("max_completion_tokens") or request.get("max_tokens") or _DEFAULT_MAX_TOKENS,
    }
    if system:
        params["system"] = "\n\n".join(system)
    # The SDK's create() no longer names the sampling parameters; the Messages API still takes them in the body.
    sampling: dict[str, Any] = {}
    if request.get("temperature") is not None:
        sampling["temperature"] = min(float(request["temperature"]), 1.0)
    if request.get("top_p") is not None:
        sampling["top_p"] = request["top_p"]
    if sampling:
        params["extra_body"] = sampling
    stop = request.get("stop")
    if stop:
        params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if request.get("tools"):
        params["tools"] = [
            {
                "name": tool["function"]["name"],
                "description": tool["function"].get("description", ""),
                "input_schema": tool["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for tool in request["tools"]
        ]
        choice = _tool_choice(request.get("tool_choice"))
        if choice:
            params["tool_choice"] = choice
    return params


def to_openai_completion(message: Message, alias: str) -> dict[str, Any]:
    """Anthropic Message -> OpenAI chat.completion object."""
    text = "".join(block.text for block in message.content if block.type == "text")
    tool_calls = [
        {
            "id": block.id,
            "type": "function",
            "function": {"name": block.name, "arguments": orjson.dumps(block.input).decode()},
        }
        for block in message.content
        if block.type == "tool_use"
    ]
    out_message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        out_message["tool_calls"] = tool_calls
    usage = message.usage
    return {
        "id": f"chatcmpl-{message.id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": alias,
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(message.stop_reason or "end_turn", "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI `chat.completion.chunk` payloads."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.id = "chatcmpl-anthropic"
        self.created = int(time.time())
        self.tokens_in = 0
        self.tokens_out = 0
        self.finished = False
        self._tool_index: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.alias,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
        )

    def usage_chunk(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.alias,
                "choices": [],
                "usage": {
                    "prompt_tokens": self.tokens_in,
                    "completion_tokens": self.tokens_out,
                    "total_tokens": self.tokens_in + self.tokens_out,
                },
            }
        )

    def translate(self, event: RawMessageStreamEvent) -> list[bytes]:
        if event.type == "message_start":
            self.id = f"chatcmpl-{event.message.id}"
            self.tokens_in = event.message.usage.input_tokens
            self.tokens_out = event.message.usage.output_tokens
            return [self._chunk({"role": "assistant", "content": ""})]
        if event.type == "content_block_start" and event.content_block.type == "tool_use":
            index = len(self._tool_index)
            self._tool_index[event.index] = index
            return [
                self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": event.content_block.id,
                                "type": "function",
                                "function": {"name": event.content_block.name, "arguments": ""},
                            }
                        ]
                    }
                )
            ]
        if event.type == "content_block_delta":
            if event.delta.type == "text_delta":
                return [self._chunk({"content": event.delta.text})]
            if event.delta.type == "input_json_delta":
                index = self._tool_index.get(event.index, 0)
                return [
                    self._chunk({"tool_calls": [{"index": index, "function": {"arguments": event.delta.partial_json}}]})
                ]
        if event.type == "message_delta":
            if event.usage is not None and event.usage.output_tokens is not None:
                self.tokens_out = event.usage.output_tokens
            reason = FINISH_REASONS.get(event.delta.stop_reason or "end_turn", "stop")
            return [self._chunk({}, finish_reason=reason)]
        if event.type == "message_stop":
            self.finished = True
        return []
