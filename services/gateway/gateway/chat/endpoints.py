"""The chat routes: POST /v1/chat/completions as a fast route (aiaas.fast_route), GET /v1/models on FastAPI."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter
from starlette.types import Send

from aiaas.auth import Principal, require_scope
from aiaas.errors import error_body
from aiaas.fast_route import FastRequest, send_event_stream, send_json
from aiaas.scopes import CHAT
from aiaas.service_callers import RUN_ID_HEADER, STEP_HEADER, TENANT_HEADER, is_service_token
from gateway.callers import RunStep
from gateway.chat.request import parse_request
from gateway.chat.schemas import ChatCompletionRequest
from gateway.chat.service import ChatCall
from gateway.state import GatewayState, StateDep

__all__ = ["CHAT_COMPLETIONS_PATH", "ChatCompletions", "router"]

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"

router = APIRouter(prefix="/v1", tags=["chat"])


@router.get("/models")
async def list_models(_principal: Annotated[Principal, require_scope(CHAT)], state: StateDep) -> dict[str, object]:
    """List the model aliases this gateway serves (the auto alias, when on, is the router's: owned_by aiaas-router)."""
    created = int(time.time())
    aliases = state.catalog.aliases()
    if state.auto is not None and state.auto.servable():
        aliases = [alias for alias in aliases if alias.name != state.auto.alias] + [state.auto.placeholder]
    return {
        "object": "list",
        "data": [
            {"id": alias.name, "object": "model", "created": created, "owned_by": alias.owned_by} for alias in aliases
        ],
    }


class ChatCompletions:
    """POST /v1/chat/completions: the hot route, in front of FastAPI's middleware and router.

    The fast route gives it the body limit, the server span and the error shape; everything about the
    request itself (limits and quota, failover, metering) is `ChatCall`'s.
    """

    path = CHAT_COMPLETIONS_PATH

    async def serve(self, request: FastRequest, send: Send) -> int:
        state = request.state
        assert isinstance(state, GatewayState)
        deps = state.chat
        # Credentials before the body is parsed: an unauthenticated caller learns nothing about it.
        run_step: RunStep | None = None
        if is_service_token(request.authorization):  # a platform service acting for a tenant (gateway/callers.py)
            principal, run_step = await state.callers.resolve(request.authorization, request.scope["headers"])
        else:
            principal = await deps.resolver.resolve(request.authorization)
            # The route's scope, checked here (not by aiaas.auth.require_scope: no FastAPI on this path).
            principal.require(CHAT)
        chat_request, payload = parse_request(await request.body())
        cache_control = _header(request, b"cache-control")  # no-cache / no-store (gateway/cache)
        call = ChatCall(deps, principal, chat_request, payload, cache_control, run_step=run_step)
        await call.run(_Reply(request, send))
        return 200

    def document(self, openapi: dict[str, Any]) -> None:
        """Describe the route and its request model in the OpenAPI schema (it has no FastAPI route)."""
        components = openapi.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas["ChatCompletionRequest"] = schema
        error = {
            "description": "OpenAI-shape error",
            "content": {"application/json": {"example": error_body("invalid_request_error", "invalid_request", "...")}},
        }
        openapi.setdefault("paths", {})[CHAT_COMPLETIONS_PATH] = {
            "post": {
                "tags": ["chat"],
                "summary": "Create Chat Completion",
                "description": "Create a chat completion (OpenAI-compatible; `stream: true` answers with SSE). A "
                "tenant key with the `chat` scope, or a platform service's credential (a listed platform-admin key) "
                f"with `{TENANT_HEADER}`.",
                "operationId": "create_chat_completion_v1_chat_completions_post",
                "security": [{"HTTPBearer": [CHAT]}, {"AdminKey": [], "TenantId": []}],
                "parameters": [
                    _header_parameter(TENANT_HEADER, "With a service credential: the tenant served", _UUID),
                    _header_parameter(RUN_ID_HEADER, "With a service credential: the orchestrator run", _UUID),
                    _header_parameter(STEP_HEADER, "With a service credential: the run's step", _STEP),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "A `chat.completion` object, or with `stream: true` a stream of "
                        "`chat.completion.chunk` server-sent events ending with `data: [DONE]`",
                        "content": {"application/json": {}, "text/event-stream": {}},
                    },
                    **{str(code): error for code in (400, 401, 403, 404, 413, 422, 429, 502, 503, 504)},
                },
            }
        }
        schemes = components.setdefault("securitySchemes", {})
        schemes.setdefault("HTTPBearer", {"type": "http", "scheme": "bearer"})
        schemes.setdefault("AdminKey", {"type": "http", "scheme": "bearer", "description": "sk-admin-... key"})
        schemes.setdefault("TenantId", {"type": "apiKey", "in": "header", "name": TENANT_HEADER})


_UUID = {"type": "string", "format": "uuid"}
_STEP = {"type": "string", "pattern": "^[A-Za-z0-9_.:#-]{1,128}$"}


def _header_parameter(name: str, description: str, schema: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


def _header(request: FastRequest, name: bytes) -> str | None:
    """A request header's values (joined by commas when repeated), or None."""
    values = [value.decode("latin-1") for key, value in request.scope["headers"] if key == name]
    return ", ".join(values) if values else None


class _Reply:
    """ChatReply over the fast route's ASGI send."""

    __slots__ = ("_request", "_send")

    def __init__(self, request: FastRequest, send: Send) -> None:
        self._request = request
        self._send = send

    async def json(self, body: bytes, headers: Mapping[str, str]) -> None:
        await send_json(self._send, 200, body, headers.items())

    async def stream(self, events: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        await send_event_stream(self._request, self._send, events, headers)
