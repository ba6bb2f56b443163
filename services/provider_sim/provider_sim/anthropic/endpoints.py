"""Anthropic wire protocol: `POST /v1/messages`, plain and as the real SSE event sequence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provider_sim.anthropic.schemas import AnthropicMessage, MessagesRequest
from provider_sim.completion import Completion, Conversation, complete
from provider_sim.delivery import Frame, json_response, start_answer, stream_response, wait_generation
from provider_sim.errors import SimError
from provider_sim.exchange import Exchange, read_request, sim_endpoint
from provider_sim.textgen import request_seed
from provider_sim.tools import ToolChoice, ToolMode, ToolSpec

__all__ = ["anthropic_routes", "require_api_key"]

_STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence"}
_CHOICE_MODE: dict[str, ToolMode] = {"auto": "auto", "any": "required", "tool": "named", "none": "none"}


def require_api_key(request: Request) -> None:
    """Reject requests without a key (401) or without `anthropic-version` (400).

    The key comes in `x-api-key` or, as current SDKs send it, `Authorization: Bearer <key>`.
    """
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    has_bearer = scheme.lower() == "bearer" and bool(bearer.strip())
    if not (request.headers.get("x-api-key", "").strip() or has_bearer):
        raise SimError("authentication", "x-api-key header is required")
    if not request.headers.get("anthropic-version", "").strip():
        raise SimError("invalid_request", "anthropic-version: header is required")


def _block_text(block: dict[str, Any]) -> str:
    """Prompt text of one content block."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return f"{block.get('name', '')} {orjson.dumps(block.get('input', {})).decode()}"
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        return str(content)
    return ""


def _message_text(message: AnthropicMessage) -> str:
    """All text a message contributes to the prompt."""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(_block_text(block) for block in message.content)


def _conversation(body: MessagesRequest, raw: dict[str, Any]) -> Conversation:
    """Reduce a validated request to the provider-neutral conversation."""
    texts = [_message_text(message) for message in body.messages]
    system = body.system_text()
    last = body.messages[-1]
    ends_with_tool_result = isinstance(last.content, list) and any(
        block.get("type") == "tool_result" for block in last.content
    )
    last_user_text: str | None = None
    if not ends_with_tool_result:
        last_user_text = next(
            (t for m, t in zip(reversed(body.messages), reversed(texts), strict=True) if m.role == "user"), ""
        )
    choice = ToolChoice()
    if body.tool_choice is not None:
        choice = ToolChoice(_CHOICE_MODE[body.tool_choice.type], body.tool_choice.name)
    seed = request_seed(
        "anthropic",
        body.model,
        raw["messages"],
        raw.get("system"),
        raw.get("tools"),
        raw.get("tool_choice"),
        body.temperature,
    )
    return Conversation(
        seed=seed,
        message_texts=([system] if system is not None else []) + texts,
        last_user_text=last_user_text,
        max_tokens=body.max_tokens,
        stop=body.stop_sequences or [],
        tools=[ToolSpec(tool.name, tool.input_schema) for tool in body.tools or []],
        tools_json=orjson.dumps(raw["tools"]) if body.tools else None,
        tool_choice=choice,
    )


def _stop(completion: Completion) -> tuple[str, str | None]:
    """`stop_reason` and `stop_sequence`."""
    if completion.reply is None:
        return "tool_use", None
    return _STOP_REASON[completion.reply.finish], completion.reply.stop_sequence


def _content(completion: Completion) -> list[dict[str, Any]]:
    """Content blocks of the finished message."""
    call = completion.tool_call
    if call is not None:
        return [{"type": "tool_use", "id": f"toolu_{call.id_suffix}", "name": call.name, "input": call.arguments}]
    return [{"type": "text", "text": completion.reply.text if completion.reply else ""}]


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """Anthropic `usage` object."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def _message(message_id: str, model: str, completion: Completion) -> dict[str, Any]:
    """Non-streaming `message` object."""
    stop_reason, stop_sequence = _stop(completion)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(completion),
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": _usage(completion.prompt_tokens, completion.completion_tokens),
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE frame: `event: <name>` plus JSON data."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _message_frames(message_id: str, model: str, completion: Completion) -> Iterator[Frame]:
    """The real event sequence: message_start, block start, ping, deltas, block stop, message_delta/stop."""
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(completion.prompt_tokens, 1),
    }
    yield _event("message_start", {"type": "message_start", "message": start}), False
    call = completion.tool_call
    if call is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{call.id_suffix}",
            "name": call.name,
            "input": {},
        }
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in call.argument_fragments()]
    else:
        block = {"type": "text", "text": ""}
        pieces = completion.reply.pieces if completion.reply else []
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
    yield (
        _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        False,
    )
    yield _event("ping", {"type": "ping"}), False
    for delta in deltas:
        yield _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}), True
    yield _event("content_block_stop", {"type": "content_block_stop", "index": 0}), False
    stop_reason, stop_sequence = _stop(completion)
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        "usage": {"output_tokens": completion.completion_tokens},
    }
    yield _event("message_delta", message_delta), False
    yield _event("message_stop", {"type": "message_stop"}), False


@sim_endpoint("anthropic", "anthropic.messages")
async def messages(exchange: Exchange) -> Response:
    """POST /v1/messages."""
    require_api_key(exchange.request)
    raw, body = await read_request(exchange, MessagesRequest)
    conversation = _conversation(body, raw)
    behaviour = exchange.state.behaviour(body.model, exchange.request.headers, conversation.last_user_text)
    completion = complete(conversation, exchange.state.reply_range(body.model))
    await start_answer(
        exchange, behaviour, "anthropic.messages", completion.prompt_tokens, completion.completion_tokens
    )
    message_id = f"msg_{exchange.request_id.removeprefix('req_')}"
    headers = {"request-id": exchange.request_id}
    if body.stream:
        return stream_response(_message_frames(message_id, body.model, completion), behaviour, headers)
    await wait_generation(behaviour, completion.completion_tokens)
    return json_response(orjson.dumps(_message(message_id, body.model, completion)), behaviour, headers)


def anthropic_routes() -> list[Route]:
    """Routes of the Anthropic-compatible surface (the model list is shared, see models/endpoints.py)."""
    return [Route("/v1/messages", messages, methods=["POST"])]
