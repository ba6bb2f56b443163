"""OpenAI wire protocol: chat completions (plain and SSE) and embeddings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provider_sim.completion import Completion, Conversation, complete
from provider_sim.delivery import Frame, json_response, start_answer, stream_response, wait_generation
from provider_sim.embeddings import embed, encode_base64
from provider_sim.errors import SimError
from provider_sim.exchange import Exchange, read_request, sim_endpoint
from provider_sim.openai.schemas import ChatCompletionRequest, ChatMessage, EmbeddingRequest, NamedToolChoice
from provider_sim.rulemodels import RULE_MODELS, rule_completion
from provider_sim.textgen import count_tokens, request_seed
from provider_sim.tools import ToolChoice, ToolSpec

__all__ = ["openai_routes", "require_bearer"]

_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length"}
_FINGERPRINT = "fp_provider_sim"


def require_bearer(request: Request) -> None:
    """Reject requests without `Authorization: Bearer <non-empty key>`."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise SimError(
            "authentication",
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )


def _message_text(message: ChatMessage) -> str:
    """All text a message contributes to the prompt."""
    parts: list[str] = []
    if isinstance(message.content, str):
        parts.append(message.content)
    elif message.content:
        parts.extend(str(part.get("text", "")) for part in message.content if "text" in part)
    for call in message.tool_calls or []:
        function = call.get("function") or {}
        parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    return "\n".join(parts)


def _conversation(body: ChatCompletionRequest, raw: dict[str, Any]) -> Conversation:
    """Reduce a validated request to the provider-neutral conversation."""
    texts = [_message_text(message) for message in body.messages]
    last = body.messages[-1]
    last_user_text: str | None = None
    if last.role not in ("tool", "function"):
        last_user_text = next(
            (t for m, t in zip(reversed(body.messages), reversed(texts), strict=True) if m.role == "user"), ""
        )
    choice = ToolChoice()
    if isinstance(body.tool_choice, NamedToolChoice):
        choice = ToolChoice("named", body.tool_choice.function.name)
    elif body.tool_choice is not None:
        choice = ToolChoice(body.tool_choice)
    tools = [ToolSpec(t.function.name, t.function.parameters) for t in body.tools or []]
    seed = request_seed(
        "openai",
        body.model,
        raw["messages"],
        raw.get("tools"),
        raw.get("tool_choice"),
        body.temperature,
        body.seed,
    )
    return Conversation(
        seed=seed,
        message_texts=texts,
        last_user_text=last_user_text,
        max_tokens=body.completion_cap,
        stop=body.stop_sequences,
        tools=tools,
        tools_json=orjson.dumps(raw["tools"]) if body.tools else None,
        tool_choice=choice,
    )


def _usage(completion: Completion) -> dict[str, Any]:
    """OpenAI `usage` object."""
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(completion: Completion) -> str:
    """`finish_reason` of the single choice."""
    if completion.tool_call is not None or completion.reply is None:
        return "tool_calls"
    return _FINISH[completion.reply.finish]


def _chat_body(completion_id: str, model: str, completion: Completion) -> dict[str, Any]:
    """Non-streaming `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    call = completion.tool_call
    if call is not None:
        message["tool_calls"] = [
            {
                "id": f"call_{call.id_suffix}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
        ]
    elif completion.reply is not None:
        message["content"] = completion.reply.text
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(completion)}],
        "usage": _usage(completion),
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }


def _chat_frames(completion_id: str, model: str, completion: Completion, include_usage: bool) -> Iterator[Frame]:
    """SSE frames of a streamed chat completion, ending with `data: [DONE]`."""
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    usage_field = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return b"data: " + orjson.dumps({**base, "choices": [choice], **usage_field}) + b"\n\n"

    call = completion.tool_call
    if call is not None:
        head = {
            "index": 0,
            "id": f"call_{call.id_suffix}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"role": "assistant", "content": None, "tool_calls": [head], "refusal": None}), True
        for fragment in call.argument_fragments():
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}), True
    elif completion.reply is not None:
        yield chunk({"role": "assistant", "content": "", "refusal": None}), False
        for piece in completion.reply.pieces:
            yield chunk({"content": piece}), True
    yield chunk({}, _finish_reason(completion)), False
    if include_usage:
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": _usage(completion)}) + b"\n\n", False
    yield b"data: [DONE]\n\n", False


@sim_endpoint("openai", "openai.chat.completions")
async def chat_completions(exchange: Exchange) -> Response:
    """POST /v1/chat/completions."""
    require_bearer(exchange.request)
    raw, body = await read_request(exchange, ChatCompletionRequest)
    conversation = _conversation(body, raw)
    behaviour = exchange.state.behaviour(body.model, exchange.request.headers, conversation.last_user_text)
    if body.model in RULE_MODELS:
        rate = exchange.state.settings.degraded_rate
        completion = rule_completion(body, raw, conversation.message_texts, rate)
    else:
        completion = complete(conversation, exchange.state.reply_range(body.model))
    await start_answer(
        exchange, behaviour, "openai.chat.completions", completion.prompt_tokens, completion.completion_tokens
    )
    completion_id = f"chatcmpl-{exchange.request_id[:24]}"
    headers = {"x-request-id": exchange.request_id, "openai-processing-ms": "1"}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return stream_response(_chat_frames(completion_id, body.model, completion, include_usage), behaviour, headers)
    await wait_generation(behaviour, completion.completion_tokens)
    return json_response(orjson.dumps(_chat_body(completion_id, body.model, completion)), behaviour, headers)


@sim_endpoint("openai", "openai.embeddings")
async def embeddings(exchange: Exchange) -> Response:
    """POST /v1/embeddings."""
    require_bearer(exchange.request)
    _, body = await read_request(exchange, EmbeddingRequest)
    behaviour = exchange.state.behaviour(body.model, exchange.request.headers)
    texts = body.texts()
    usage = sum(count_tokens(text) for text in texts)
    await start_answer(exchange, behaviour, "openai.embeddings", usage, 0)
    dimensions = body.dimensions or exchange.state.settings.embedding_dimensions
    data = []
    for index, text in enumerate(texts):
        vector = embed(text, dimensions)
        encoded: list[float] | str = encode_base64(vector) if body.encoding_format == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    usage_body = {"prompt_tokens": usage, "total_tokens": usage}
    payload = orjson.dumps({"object": "list", "data": data, "model": body.model, "usage": usage_body})
    return json_response(payload, behaviour, {"x-request-id": exchange.request_id})


def openai_routes() -> list[Route]:
    """Routes of the OpenAI-compatible surface (the model list is shared, see models/endpoints.py)."""
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
    ]
