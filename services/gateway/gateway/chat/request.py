"""A chat request's body: parsed and validated into the typed request plus the raw dict forwarded upstream."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from aiaas.errors import BadRequest, Unprocessable
from gateway.chat.schemas import ChatCompletionRequest

__all__ = ["estimate_prompt_tokens", "parse_request"]


def parse_request(body: bytes) -> tuple[ChatCompletionRequest, dict[str, Any]]:
    """Bytes -> validated request plus the raw dict that is forwarded upstream."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            "We could not parse the JSON body of your request: it must be valid UTF-8 JSON.",
            code="invalid_json",
        ) from exc
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        request = ChatCompletionRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        param = ".".join(str(part) for part in first["loc"])
        raise Unprocessable(
            f"Invalid value for '{param}': {first['msg']}", code="invalid_request", param=param
        ) from exc
    return request, payload


def estimate_prompt_tokens(payload: dict[str, Any]) -> int:
    """Tokens of the prompt before the provider counts them (4 characters a token, 4 per message)."""
    chars = 0
    for message in payload.get("messages", ()):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    return chars // 4 + 4 * len(payload.get("messages", ()))
