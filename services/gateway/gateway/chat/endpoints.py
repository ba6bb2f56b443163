"""POST /v1/chat/completions and GET /v1/models."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from gateway.chat.schemas import ChatCompletionRequest
from gateway.chat.service import ChatCall, parse_request
from gateway.deps import PrincipalDep, StateDep
from gateway.providers.base import Completion

router = APIRouter(prefix="/v1", tags=["chat"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
    }
}


@router.post("/chat/completions", openapi_extra=_BODY_SCHEMA, response_model=None)
async def create_chat_completion(request: Request, principal: PrincipalDep, state: StateDep) -> Response:
    """Create a chat completion (OpenAI-compatible; `stream: true` answers with SSE)."""
    chat_request, payload = parse_request(await request.body())
    call = ChatCall(state, principal, chat_request, payload)
    alias = call.resolve_alias()
    await call.admit()
    served = await call.serve(alias)
    if isinstance(served.result, Completion):
        body = call.completion_body(served.result)
        return Response(body, media_type="application/json", headers=call.response_headers())
    return MeteredStreamingResponse(
        call.stream_events(served),
        on_close=lambda: call.ensure_recorded(served),
        media_type="text/event-stream",
        headers={**call.response_headers(), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class MeteredStreamingResponse(StreamingResponse):
    """Runs `on_close` however the response ends, even if the body was never iterated."""

    def __init__(self, content: Any, *, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


@router.get("/models")
async def list_models(_principal: PrincipalDep, state: StateDep) -> dict[str, object]:
    """List the model aliases this gateway serves."""
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {"id": alias.name, "object": "model", "created": created, "owned_by": alias.owned_by}
            for alias in state.catalog.aliases()
        ],
    }


def register_schemas(openapi: dict[str, object]) -> None:
    """Add the request model to the OpenAPI components (the endpoint parses the body itself)."""
    components = openapi.setdefault("components", {})
    assert isinstance(components, dict)
    schemas = components.setdefault("schemas", {})
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["ChatCompletionRequest"] = schema
